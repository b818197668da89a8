// The web authenticator on a phone: headless Chromium (Debian's, driven by
// playwright-core) emulating a phone activates the app with a code, answers signature
// requests with the PIN, works offline, and gets blocked by wrong PINs. The Rust test
// (crates/server/tests/web_authenticator.rs) is the operator and the AP: it sends
// requests and checks the signatures; the two talk in lines.
//
// Input (environment): APP (the browser port's base URL), CODE, PIN, SCREENSHOTS.
// Commands on stdin: "request" (answer the next request: one wrong PIN, then the right
// one), "block" (answer the next request with wrong PINs until blocked), "done".
// Output lines: "activated <serial> <certificate base64>", "shown <json>",
// "wrong-pin <message>", "approved", "offline-ok", "copy-useless", "blocked", and at the
// end "summary <json>".
import { devices } from 'playwright-core';
import { launchFor, watcher } from './chromium.mjs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

const env = process.env;
// A stuck step must fail the test, not hang it.
setTimeout(() => { console.log('summary {"error":"timed out"}'); process.exit(1); }, 150000).unref();
const say = (line) => console.log(line);
const base = new URL(env.APP);

// Chromium trusts the server's certificate by its key (service workers need a
// certificate without errors), so the test needs no system trust store.
const browser = await launchFor(base);
const violations = [];
const pages = {};
const watch = watcher(violations);
const snap = async (page, name) => {
  await page.screenshot({ path: join(env.SCREENSHOTS, `app-${name}.png`), fullPage: true });
  pages[name] = {
    lang: await page.evaluate(() => document.documentElement.lang),
    title: await page.title(),
    text: await page.evaluate(() => document.body.innerText),
  };
};
const commands = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await commands.next()).value;

try {
  // The activation page in each language, as a phone shows it.
  for (const lang of ['en', 'de', 'fr', 'it']) {
    const context = await browser.newContext({ ...devices['Pixel 7'] });
    const page = await context.newPage();
    watch(page);
    await page.goto(`${base.origin}/app/?ui_locales=${lang}`);
    await page.waitForSelector('#activate:not([hidden])');
    await snap(page, `activate-${lang}`);
    await context.close();
  }

  const phone = await browser.newContext({ ...devices['Pixel 7'], serviceWorkers: 'allow' });
  const page = await phone.newPage();
  watch(page);
  await page.goto(`${base.origin}/app/?ui_locales=en#code=${env.CODE}`);
  await page.waitForSelector('#activate:not([hidden])');
  if (await page.inputValue('#code') !== env.CODE) throw new Error('the link did not fill in the code');
  // A PIN that differs from its repetition is caught on the phone.
  await page.fill('#new-pin', env.PIN);
  await page.fill('#new-pin2', '999999');
  await page.click('#activate-form button[type=submit]');
  await page.waitForSelector('#activate-message.problem');
  pages.mismatch = await page.textContent('#activate-message');
  await page.fill('#new-pin2', env.PIN);
  await page.click('#activate-form button[type=submit]');
  await page.waitForSelector('#home:not([hidden])', { timeout: 30000 });
  const serial = (await page.textContent('#serial')).trim();
  if (page.url().includes('#code=')) throw new Error('the code stays in the address bar');
  const certificate = await page.evaluate(() => new Promise((resolve) => {
    const open = indexedDB.open('mobileid-authenticator');
    open.onsuccess = () => {
      const get = open.result.transaction('phone').objectStore('phone').get('state');
      get.onsuccess = () => resolve(get.result.certificate);
    };
  }));
  await snap(page, 'home-en');
  say(`activated ${serial} ${certificate}`);

  // Installable: a manifest with icons, and a service worker that controls the app.
  pages.manifest = await page.evaluate(async () => {
    const link = document.querySelector('link[rel=manifest]');
    const manifest = await (await fetch(link.href)).json();
    const ready = await Promise.race([
      navigator.serviceWorker.ready.then(() => 'ready'),
      new Promise((resolve) => setTimeout(() => resolve(`not ready: ${document.getElementById('app').dataset.workerError}`), 10000)),
    ]);
    return { ...manifest, worker: ready };
  });
  await page.reload();
  await page.waitForSelector('#home:not([hidden])');
  pages.controlled = await page.evaluate(() => Boolean(navigator.serviceWorker.controller));

  for (;;) {
    const command = await next();
    if (command === 'request') {
      await page.waitForSelector('#request-form:not([hidden])', { timeout: 30000 });
      say(`shown ${JSON.stringify({
        text: await page.textContent('#request-text'),
        focused: await page.evaluate(() => document.activeElement.id),
      })}`);
      await snap(page, 'request-en');
      // The same request, as the app shows it in the other languages.
      for (const lang of ['de', 'fr', 'it', 'en']) {
        await page.goto(`${base.origin}/app/?ui_locales=${lang}`);
        await page.waitForSelector('#request-form:not([hidden])', { timeout: 30000 });
        if (lang !== 'en') await snap(page, `request-${lang}`);
      }
      await page.fill('#pin', '000000');
      await page.click('#request-form button[type=submit]');
      await page.waitForSelector('#request-message.problem');
      say(`wrong-pin ${await page.textContent('#request-message')}`);
      await page.fill('#pin', env.PIN);
      await page.click('#request-form button[type=submit]');
      await page.waitForSelector('#request-form', { state: 'hidden', timeout: 30000 });
      await page.waitForSelector('#history li');
      pages.history = await page.textContent('#history');
      say('approved');

      // Offline: the app still opens, from the service worker's cache, and says so.
      for (const lang of ['de', 'fr', 'it']) {
        await page.goto(`${base.origin}/app/?ui_locales=${lang}`);
        await page.waitForSelector('#home:not([hidden])');
        await snap(page, `home-${lang}`);
      }
      await page.goto(`${base.origin}/app/?ui_locales=en`);
      await page.waitForSelector('#home:not([hidden])');
      if (env.DEBUG) console.error(`worker: ${JSON.stringify(pages.manifest.worker)} controlled ${await page.evaluate(() => Boolean(navigator.serviceWorker.controller))} caches ${await page.evaluate(async () => JSON.stringify(await Promise.all((await caches.keys()).map(async (k) => (await (await caches.open(k)).keys()).map((r) => r.url)))))}`);
      await phone.setOffline(true);
      await page.reload();
      await page.waitForSelector('#offline:not([hidden])', { timeout: 10000 });
      await page.waitForSelector('#home:not([hidden])');
      await snap(page, 'offline-en');
      await phone.setOffline(false);
      await page.reload();
      await page.waitForSelector('#home:not([hidden])');
      await page.waitForSelector('#offline', { state: 'hidden', timeout: 10000 });
      say('offline-ok');

      // A copy of the stored state: the device key cannot be taken out, and the right
      // PIN opens nothing without the server's share.
      const copy = await page.evaluate(async (pin) => {
        const state = await new Promise((resolve) => {
          const open = indexedDB.open('mobileid-authenticator');
          open.onsuccess = () => {
            const get = open.result.transaction('phone').objectStore('phone').get('state');
            get.onsuccess = () => resolve(get.result);
          };
        });
        const result = {};
        try { await crypto.subtle.exportKey('pkcs8', state.device_key); result.deviceKeyExported = true; } catch { result.deviceKeyExported = false; }
        const sealed = state.sealed_signing_key;
        const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false, ['deriveBits']);
        const pinKey = new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: sealed.slice(1, 17), iterations: 100000 }, base, 256));
        for (const [name, share] of [['no share', new Uint8Array(0)], ['zero share', new Uint8Array(32)], ['PIN key alone', null]]) {
          const ikm = share === null ? pinKey : new Uint8Array([...pinKey, ...share]);
          const attempts = [];
          try {
            const hkdf = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveKey']);
            const kek = await crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: new TextEncoder().encode('mobileid signing key v1') }, hkdf, { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
            await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.slice(17, 29), additionalData: sealed.slice(0, 17) }, kek, sealed.slice(29));
            attempts.push('opened');
          } catch { attempts.push('refused'); }
          result[name] = attempts.join();
        }
        return result;
      }, env.PIN);
      if (copy.deviceKeyExported || Object.entries(copy).some(([k, v]) => k !== 'deviceKeyExported' && v !== 'refused')) {
        throw new Error(`a copy of the state opened something: ${JSON.stringify(copy)}`);
      }
      pages.copy = copy;
      say('copy-useless');
    } else if (command === 'block') {
      await page.waitForSelector('#request-form:not([hidden])', { timeout: 30000 });
      for (let attempt = 1; ; attempt++) {
        await page.fill('#pin', '111111');
        await page.click('#request-form button[type=submit]');
        const left = 5 - attempt;
        // Polled from here: the page's policy forbids the evaluated predicates of
        // waitForFunction.
        let outcome;
        for (let waited = 0; !outcome; waited += 100) {
          if (waited > 20000) throw new Error(`no answer to wrong PIN ${attempt}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
          if (await page.isVisible('#blocked')) outcome = 'blocked';
          else if ((await page.getAttribute('#request-message', 'class') || '').includes('problem')
            && (await page.textContent('#request-message')).includes(String(left))) outcome = 'wrong';
        }
        if (outcome === 'blocked') break;
        say(`wrong-pin ${await page.textContent('#request-message')}`);
        if (attempt > 10) throw new Error('never blocked');
      }
      await snap(page, 'blocked-en');
      for (const lang of ['de', 'fr', 'it']) {
        await page.goto(`${base.origin}/app/?ui_locales=${lang}`);
        await page.waitForSelector('#blocked:not([hidden])');
        await snap(page, `blocked-${lang}`);
      }
      say('blocked');
    } else {
      break;
    }
  }
  say(`summary ${JSON.stringify({ violations, pages })}`);
} finally {
  await browser.close();
}
// stdin stays open (the test keeps its end): leave explicitly.
process.exit(0);
