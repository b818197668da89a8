// The signers' pages in headless Chromium (Debian's, driven by playwright-core): a signer
// with Mobile ID opens their link, sees the pages, signs (a virtual phone approves, played
// by the Rust test); a signer without the app gets the QR code, activates the web
// authenticator in a phone-sized second context from it, and signs there. The Rust test
// (crates/server/tests/signing_browser.rs) sends the envelope, reads the SMTP sink and
// validates the signed PDF; the two talk in lines.
//
// Input (environment): APP (the browser port's base URL), PIN, SCREENSHOTS.
// Commands on stdin: "look <link>" (screenshots of the envelope page in every language),
// "sign <link> <national number> <name of the waiting page's screenshot>",
// "enrol <link> <national number>", "done".
// Output lines: "looked", "waiting" (the phone has the request), "signed", and at the end
// "summary <json>".
import { devices } from 'playwright-core';
import { launchFor, snapper, watcher } from './chromium.mjs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';

const env = process.env;
setTimeout(() => { console.log('summary {"error":"timed out"}'); process.exit(1); }, 240000).unref();
const say = (line) => console.log(line);
const base = new URL(env.APP);
const LANGS = ['en', 'de', 'fr', 'it'];

const browser = await launchFor(base);
const violations = [];
const pages = {};
const watch = watcher(violations);
const snap = snapper(env.SCREENSHOTS, 'signing', pages);
const commands = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await commands.next()).value;

// Every page image, scrolled into view so that the lazy ones load, and each waited for
// until it has loaded (or failed: the snapshot then says so).
const loadPages = async (page) => {
  for (const image of await page.locator('img.page').all()) {
    await image.scrollIntoViewIfNeeded();
    await image.evaluate((i) => new Promise((settled) => {
      if (i.complete) {
        settled();
      } else {
        i.addEventListener('load', settled, { once: true });
        i.addEventListener('error', settled, { once: true });
      }
    }));
  }
};

const startSigning = async (page, link, number) => {
  await page.goto(link);
  await page.selectOption('#country', '41');
  await page.fill('#number', number);
  await page.click('form.sign button[type=submit]');
};

try {
  const desk = await browser.newContext({ ...devices['Pixel 7'] });
  const page = await desk.newPage();
  watch(page);
  for (;;) {
    const line = await next();
    const [verb, link, number, shot] = (line || '').split(' ');
    if (verb === 'look') {
      for (const lang of LANGS) {
        await page.goto(`${link}?ui_locales=${lang}`);
        await loadPages(page);
        await snap(page, `envelope-${lang}`);
      }
      say('looked');
    } else if (verb === 'sign') {
      await startSigning(page, link, number);
      await page.waitForURL('**/progress');
      await snap(page, `${shot}-en`);
      say('waiting');
      await page.waitForURL('**/done', { timeout: 60000 });
      await snap(page, 'done-en');
      say('signed');
    } else if (verb === 'enrol') {
      await startSigning(page, link, number);
      await page.waitForSelector('img.qr');
      await snap(page, 'install-app-en');
      const png = PNG.sync.read(await page.locator('img.qr').screenshot());
      const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
      if (!found) throw new Error('the QR code could not be read');
      // The phone: a second context, the web authenticator activated from the QR code.
      const phone = await browser.newContext({ ...devices['Pixel 7'], serviceWorkers: 'allow' });
      const app = await phone.newPage();
      watch(app);
      await app.goto(found.data);
      await app.waitForSelector('#activate:not([hidden])');
      await app.fill('#new-pin', env.PIN);
      await app.fill('#new-pin2', env.PIN);
      await app.click('#activate-form button[type=submit]');
      await app.waitForSelector('#home:not([hidden])', { timeout: 60000 });
      // The signing page goes on by itself: the phone shows the document.
      await app.waitForSelector('#request-form:not([hidden])', { timeout: 30000 });
      pages.shown = await app.textContent('#request-text');
      await app.screenshot({ path: join(env.SCREENSHOTS, 'signing-app-document.png'), fullPage: true });
      say('waiting');
      await app.fill('#pin', env.PIN);
      await app.click('#request-form button[type=submit]');
      await app.waitForSelector('#request-form', { state: 'hidden', timeout: 30000 });
      pages.history = await app.locator('#history').innerText().catch(() => '');
      await page.waitForURL('**/done', { timeout: 60000 });
      await snap(page, 'done-after-app-en');
      say('signed');
    } else {
      break;
    }
  }
  say(`summary ${JSON.stringify({ violations, pages })}`);
} finally {
  await browser.close();
}
process.exit(0);
