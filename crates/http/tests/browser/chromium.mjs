// What the browser scripts share: Debian's Chromium, started headless as the project's
// standards say and trusting the test server's certificate by its key (service workers
// need a certificate without errors, and the test needs no system trust store), and a
// watch on each page for CSP violations and script errors.
import { chromium } from 'playwright-core';
import { createHash, X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { join } from 'node:path';

/// Chromium, trusting the certificate the server at `base` (a URL) presents, with
/// `extraArgs` (such as a fake camera).
export async function launchFor(base, extraArgs = []) {
  const spkiHash = await new Promise((resolve, reject) => {
    const socket = connect({ host: base.hostname, port: Number(base.port), servername: base.hostname, rejectUnauthorized: false }, () => {
      const cert = new X509Certificate(socket.getPeerCertificate(true).raw);
      socket.end();
      resolve(createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64'));
    });
    socket.on('error', reject);
  });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      `--ignore-certificate-errors-spki-list=${spkiHash}`, ...extraArgs],
  });
}

/// A function that watches a page: CSP violations and script errors go into `violations`
/// (console lines also to stderr with DEBUG set).
export function watcher(violations) {
  return (page) => {
    page.on('console', (m) => { if (process.env.DEBUG) console.error(`console: ${m.text()}`); });
    page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text()); });
    page.on('pageerror', (e) => violations.push(`script error: ${e.message}`));
  };
}

/// A function that takes a screenshot of a page into `dir` as `<prefix>-<name>.png` and
/// keeps in `pages[name]` what a reader of the page gets: its language, title, heading
/// and text, the form fields without a label, anything reaching past a phone's width,
/// and its document-page images (whether each loaded).
export function snapper(dir, prefix, pages) {
  return async (page, name) => {
    await page.screenshot({ path: join(dir, `${prefix}-${name}.png`), fullPage: true });
    pages[name] = await page.evaluate(() => ({
      lang: document.documentElement.lang,
      title: document.title,
      h1: document.querySelector('h1')?.innerText ?? '',
      text: document.body.innerText,
      unlabelled: [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter((e) => !(e.labels?.length || e.getAttribute('aria-label'))).map((e) => e.id || e.name),
      overflow: [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).map((e) => e.tagName + (e.id ? `#${e.id}` : '')),
      images: [...document.querySelectorAll('img.page')].map((i) => ({ alt: i.alt, loaded: i.complete && i.naturalWidth > 0 })),
    }));
  };
}
