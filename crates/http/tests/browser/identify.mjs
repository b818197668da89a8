// Identity verification in headless Chromium (Debian's, driven by playwright-core), with
// two browser contexts: a desktop, where a signer starts from the signing page, accepts
// the terms and gets a QR code; and a phone (Pixel 7), which scans it, takes the passport
// page with the camera (Chromium's fake capture plays a file of a specimen passport) and
// the selfie from a file, and sends them. The desktop follows without reloading. An
// operator approves in the review desk (a third context), and the desktop goes on by
// itself to the signing page. The Rust test (crates/server/tests/identify_browser.rs)
// starts the server, plays the virtual phone that signs and reads the e-mails.
//
// Input (environment): APP (the browser port's base URL), CAMERA (the .mjpeg file the
// fake camera plays), SELFIE (a JPEG), SCREENSHOTS.
// Commands on stdin: "start <signing link> <national number>", "review <confirm link>
// <email> <password>", "done",
// "takeagain <hand-off link>" (the spent link, from another phone; then that phone tries
// the verification's page).
// Output lines: "terms", "handoff", "captured <json>", "submitted", "desktop-waiting",
// "link <hand-off link>", "reused <status>", "foreign <status>", "approved", "returned",
// "signed", and at the end "summary <json>".
import { devices } from 'playwright-core';
import { launchFor, snapper, watcher } from './chromium.mjs';
import { createInterface } from 'node:readline';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';

const env = process.env;
setTimeout(() => { console.log('summary {"error":"timed out"}'); process.exit(1); }, 300000).unref();
const say = (line) => console.log(line);
const base = new URL(env.APP);
const LANGS = ['en', 'de', 'fr', 'it'];

const browser = await launchFor(base, [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  `--use-file-for-fake-video-capture=${env.CAMERA}`,
]);
const violations = [];
const pages = {};
const watch = watcher(violations);
const snap = snapper(env.SCREENSHOTS, 'identify', pages);
const commands = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await commands.next()).value;
// Polled from here: the pages' policy forbids waitForFunction's evaluated predicates.
const until = async (page, predicate, what, timeout = 30000) => {
  for (let waited = 0; ; waited += 100) {
    if (await page.evaluate(predicate).catch(() => false)) return;
    if (waited > timeout) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};
const statusOf = async (context, url) => {
  const page = await context.newPage();
  watch(page);
  const response = await page.goto(url);
  const status = response.status();
  await snap(page, `refused-${status}`);
  await page.close();
  return status;
};

try {
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
  const page = await desktop.newPage();
  watch(page);
  let verification = '';
  for (;;) {
    const line = await next();
    const [verb, ...args] = (line || '').split(' ');
    if (verb === 'start') {
      const [link, number] = args;
      await page.goto(link);
      await page.selectOption('#country', '41');
      await page.fill('#number', number);
      await page.click('form.sign button[type=submit]');
      await page.waitForURL('**/progress');
      await page.click('#identify');
      await page.waitForURL('**/identify/idv-*');
      verification = new URL(page.url()).pathname;
      for (const lang of LANGS) {
        await page.goto(`${base.origin}${verification}?ui_locales=${lang}`);
        await snap(page, `start-${lang}`);
      }
      await page.goto(`${base.origin}${verification}?ui_locales=en`);
      // Both boxes are required: without them, the form says so.
      await page.click('form.terms button[type=submit]');
      const blocked = await page.evaluate(() => document.querySelector('#accept_terms').validity.valueMissing);
      pages.terms_required = blocked;
      await page.check('#accept_terms');
      await page.check('#accept_data');
      await page.click('form.terms button[type=submit]');
      await page.waitForURL('**/capture');
      say('terms');
      await page.waitForSelector('img.qr');
      await snap(page, 'capture-desktop-en');
      const png = PNG.sync.read(await page.locator('img.qr').screenshot());
      const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
      if (!found) throw new Error('the QR code could not be read');
      say('handoff');

      // The phone: the link from the QR code, then the camera and a file.
      const phone = await browser.newContext({ ...devices['Pixel 7'], permissions: ['camera'] });
      const mobile = await phone.newPage();
      watch(mobile);
      await mobile.goto(found.data);
      await snap(mobile, 'handoff-en');
      await mobile.click('form button[type=submit]');
      await mobile.waitForURL('**/capture');
      await mobile.check('#doc-passport');
      await snap(mobile, 'capture-phone-en');
      const shot = mobile.locator('.shot[data-kind="page"]');
      await shot.locator('[data-action="camera"]').click();
      await shot.locator('[data-action="take"]:not([hidden])').waitFor({ timeout: 20000 }).catch(async (error) => {
        throw new Error(`the camera did not start: ${await shot.locator('.result').textContent()} (${error.message})`);
      });
      // Let the fake camera deliver a few frames before the picture is taken.
      await until(mobile, () => document.querySelector('.shot[data-kind="page"] video').readyState >= 2, 'the camera');
      await shot.locator('[data-action="take"]').click();
      await until(mobile, () => document.querySelector('.shot[data-kind="page"] .result').textContent.includes('machine-readable'),
        'the passport page', 60000);
      const pageResult = await shot.locator('.result').textContent();
      const selfie = mobile.locator('.shot[data-kind="selfie"]');
      await selfie.locator('input[type=file]').setInputFiles(env.SELFIE);
      await until(mobile, () => document.querySelector('.shot[data-kind="selfie"] .result').textContent.includes('received'),
        'the selfie');
      await snap(mobile, 'captured-phone-en');
      say(`captured ${JSON.stringify({ page: pageResult })}`);
      await mobile.click('#submit');
      await mobile.waitForSelector('[data-poll]');
      await snap(mobile, 'submitted-phone-en');
      say('submitted');

      // The desktop goes on by itself to the waiting page.
      await page.waitForURL((url) => !url.pathname.endsWith('/capture'), { timeout: 30000 });
      await snap(page, 'waiting-desktop-en');
      say('desktop-waiting');

      say(`link ${found.data}`);
    } else if (verb === 'takeagain') {
      // Posting the spent hand-off link again (its button) answers 410.
      const [link] = args;
      const other = await browser.newContext({ ...devices['Pixel 7'] });
      const again = await other.newPage();
      watch(again);
      await again.goto(link);
      const [response] = await Promise.all([again.waitForNavigation(), again.click('form button[type=submit]')]);
      await snap(again, 'handoff-reused-en');
      say(`reused ${response.status()}`);
      say(`foreign ${await statusOf(other, `${base.origin}${verification}`)}`);
      await other.close();
    } else if (verb === 'review') {
      const [confirm, email, password] = args;
      const operator = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const desk = await operator.newPage();
      watch(desk);
      // The CLI knows the configured address, not the test server's port: the path counts.
      const confirmUrl = new URL(confirm);
      await desk.goto(`${base.origin}${confirmUrl.pathname}${confirmUrl.search}`);
      await desk.fill('#password', password);
      await desk.click('form button[type=submit]');
      await desk.waitForSelector('h1');
      await desk.goto(`${base.origin}/portal/login`);
      await desk.fill('#email', email);
      await desk.fill('#password', password);
      await desk.press('#password', 'Enter');
      await desk.waitForURL('**/portal/');
      for (const lang of LANGS) {
        await desk.goto(`${base.origin}/review?ui_locales=${lang}`);
        await snap(desk, `review-queue-${lang}`);
      }
      await desk.goto(`${base.origin}/review?ui_locales=en`);
      await desk.click('table.queue a');
      await desk.waitForSelector('#approve');
      await until(desk, () => [...document.querySelectorAll('.evidence-images img')].every((i) => i.complete && i.naturalWidth > 0),
        'the pictures');
      await snap(desk, 'review-one-en');
      pages.review_images = await desk.evaluate(() => document.querySelectorAll('.evidence-images img').length);
      await desk.click('#approve');
      await desk.waitForURL('**/review');
      await snap(desk, 'review-after-en');
      say('approved');
      // The desktop's waiting page goes back to the signing page by itself.
      await page.waitForURL('**/sign/**', { timeout: 30000 });
      await snap(page, 'returned-en');
      say('returned');
      await page.waitForURL('**/done', { timeout: 60000 });
      await snap(page, 'signed-en');
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
