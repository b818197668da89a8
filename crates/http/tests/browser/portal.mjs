// The self-service portal in headless Chromium (Debian's, driven by playwright-core),
// with phone emulation: sign up, confirm the address from the e-mail, log in, Get Mobile
// ID (the QR code is read from the page's pixels, or the link comes by e-mail), activate
// the web authenticator in a second browser context, answer a signature request there,
// block the phone in the portal, and move to a new phone with a recovery code. The Rust
// test (crates/server/tests/portal_browser.rs) reads the SMTP sink, plays the AP and checks
// signatures and OCSP; the two talk in lines.
//
// Input (environment): APP (the browser port's base URL), EMAIL, PASSWORD, PHONE (national
// number), PIN, SCREENSHOTS.
// Commands on stdin: "link <url>" (an e-mailed link to open), "request", "block",
// "recover", "done".
// Output lines: "signed-up", "activation-link <qr|email> <url>", "active <serial> <codes>",
// "approved", "blocked", "recovered <serial>", and at the end "summary <json>".
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
const snap = snapper(env.SCREENSHOTS, 'portal', pages);
const commands = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await commands.next()).value;
const command = async (prefix) => {
  const line = await next();
  if (!line?.startsWith(prefix)) throw new Error(`expected ${prefix}, got ${line}`);
  return line.slice(prefix.length).trim();
};

// The QR code, read from the pixels of the image as the page shows it.
const readQr = async (page) => {
  const png = PNG.sync.read(await page.locator('img.qr').screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!found) throw new Error('the QR code could not be read');
  return found.data;
};

// After Next: the activation link, from the QR code or from the e-mail.
const activationLink = async (page) => {
  await page.waitForSelector('[data-poll]');
  if (await page.locator('img.qr').count()) {
    const link = await readQr(page);
    say(`activation-link qr ${link}`);
    return link;
  }
  say(`activation-link email ${page.url()}`);
  return command('link ');
};

// The web authenticator in a fresh phone: activate it from the link.
const activatePhone = async (link, name) => {
  const context = await browser.newContext({ ...devices['Pixel 7'], serviceWorkers: 'allow' });
  const app = await context.newPage();
  watch(app);
  await app.goto(link);
  await app.waitForSelector('#activate:not([hidden])');
  await app.fill('#new-pin', env.PIN);
  await app.fill('#new-pin2', env.PIN);
  await app.click('#activate-form button[type=submit]');
  await app.waitForSelector('#home:not([hidden])', { timeout: 60000 });
  await app.screenshot({ path: join(env.SCREENSHOTS, `portal-${name}.png`), fullPage: true });
  // The escrowed encryption keys the phone keeps (sealed), by their certificates.
  pages[`escrow-${name}`] = await app.evaluate(() => new Promise((resolve) => {
    const open = indexedDB.open('mobileid-authenticator');
    open.onsuccess = () => {
      const get = open.result.transaction('phone').objectStore('phone').get('state');
      get.onsuccess = () => resolve((get.result.encryption_keys || []).map((k) => k.certificate));
    };
  }));
  return { context, app, serial: (await app.textContent('#serial')).trim() };
};

// The portal follows the activation by itself and ends on the done page.
const waitForDone = async (page) => {
  await page.waitForURL('**/portal/get/done', { timeout: 60000 });
  await page.waitForSelector('#serial');
  return {
    serial: (await page.textContent('#serial')).trim(),
    codes: await page.locator('#recovery-codes li').allTextContents(),
    certificates: await page.locator('#certificates').innerText(),
  };
};

try {
  const desk = await browser.newContext({ ...devices['Pixel 7'] });
  const page = await desk.newPage();
  watch(page);
  for (const lang of LANGS) {
    await page.goto(`${base.origin}/portal/login?ui_locales=${lang}`);
    await snap(page, `login-${lang}`);
    await page.goto(`${base.origin}/portal/signup?ui_locales=${lang}`);
    await snap(page, `signup-${lang}`);
  }

  // Sign up (the language chosen last, English, is remembered), confirm from the e-mail.
  // The first sign-up creates the account; the same address again, in the other
  // languages, answers the same page (and tells the owner by e-mail).
  for (const lang of ['en', 'de', 'fr', 'it', 'en']) {
    await page.goto(`${base.origin}/portal/signup?ui_locales=${lang}`);
    await page.fill('#email', env.EMAIL);
    await page.selectOption('#country', '41');
    await page.fill('#number', env.PHONE);
    await page.fill('#password', env.PASSWORD);
    await page.click('form button[type=submit]');
    await page.waitForSelector('h1');
    await snap(page, `signup-sent-${lang}`);
  }
  say('signed-up');
  const confirmLink = await command('link ');
  // The link's page changes nothing until its button is pressed.
  for (const lang of ['de', 'fr', 'it', 'en']) {
    await page.goto(`${confirmLink}&ui_locales=${lang}`);
    await snap(page, `confirm-${lang}`);
  }
  await page.click('form button[type=submit]');
  await page.waitForSelector('h1');

  // Log in with the keyboard alone.
  await page.goto(`${base.origin}/portal/login`);
  await page.focus('#email');
  await page.keyboard.type(env.EMAIL);
  await page.keyboard.press('Tab');
  await page.keyboard.type(env.PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL('**/portal/');
  for (const lang of LANGS) {
    await page.goto(`${base.origin}/portal/?ui_locales=${lang}`);
    await snap(page, `dashboard-${lang}`);
    await page.goto(`${base.origin}/portal/get?ui_locales=${lang}`);
    await snap(page, `get-${lang}`);
    // Next, then Cancel, in every language: nothing is left behind.
    await page.click('form[action="/portal/get"] button[type=submit]');
    await page.waitForSelector('[data-poll]');
    await snap(page, `enrol-${lang}`);
    await page.click('form[action="/portal/get/cancel"] button[type=submit]');
    await page.waitForURL('**/portal/?notice=cancelled');
  }
  await page.goto(`${base.origin}/portal/?ui_locales=en`);
  await page.click('a[href="/portal/get"]');
  await page.click('form[action="/portal/get"] button[type=submit]');
  const phone = await activatePhone(await activationLink(page), 'app-activated');
  const done = await waitForDone(page);
  await snap(page, 'done-en');
  if (done.serial !== phone.serial) throw new Error(`the portal shows ${done.serial}, the phone ${phone.serial}`);
  say(`active ${done.serial} ${done.codes.join(',')}`);
  pages.certificates = done.certificates;

  for (;;) {
    const line = await next();
    if (line === 'request') {
      await phone.app.waitForSelector('#request-form:not([hidden])', { timeout: 30000 });
      await phone.app.fill('#pin', env.PIN);
      await phone.app.click('#request-form button[type=submit]');
      await phone.app.waitForSelector('#request-form', { state: 'hidden', timeout: 30000 });
      say('approved');
    } else if (line === 'block') {
      for (const lang of ['de', 'fr', 'it', 'en']) {
        await page.goto(`${base.origin}/portal/mobile-id?ui_locales=${lang}`);
        await snap(page, `my-${lang}`);
        if (lang !== 'en') {
          await page.goto(`${base.origin}/portal/get/done?ui_locales=${lang}`);
          await snap(page, `done-${lang}`);
        }
        await page.goto(`${base.origin}/portal/recover?ui_locales=${lang}`);
        await snap(page, `recover-${lang}`);
      }
      await page.goto(`${base.origin}/portal/mobile-id?ui_locales=en`);
      await page.click('#devices form button[type=submit]');
      await page.waitForURL('**/portal/mobile-id?notice=blocked');
      await snap(page, 'blocked-en');
      pages.afterBlock = await page.locator('#devices').innerText();
      say('blocked');
    } else if (line === 'recover') {
      await page.click('a[href="/portal/recover"]');
      await page.fill('#recovery', 'WRONG-CODE1');
      await page.click('form[action="/portal/recover"] button[type=submit]');
      await page.waitForSelector('#problem');
      await snap(page, 'recover-wrong-en');
      await page.fill('#recovery', await command('code '));
      await page.click('form[action="/portal/recover"] button[type=submit]');
      const second = await activatePhone(await activationLink(page), 'app-recovered');
      const again = await waitForDone(page);
      if (again.serial !== second.serial) throw new Error(`the portal shows ${again.serial}, the new phone ${second.serial}`);
      say(`recovered ${again.serial} ${again.codes.length}`);
    } else {
      break;
    }
  }
  say(`summary ${JSON.stringify({ violations, pages })}`);
} finally {
  await browser.close();
}
process.exit(0);
