// Loads one URL in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is ever downloaded) and prints what the page got as JSON.
// A TLS client-certificate request would stop a real browser at a picker; headless
// Chromium has nobody to pick, so the load must succeed without one.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.argv[2];
const userDataDir = mkdtempSync(join(tmpdir(), 'mobileid-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  ignoreHTTPSErrors: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = await context.newPage();
  const response = await page.goto(url, { timeout: 20000 });
  const body = await page.evaluate(() => document.body.innerText);
  console.log(JSON.stringify({ status: response.status(), body, requestId: response.headers()['x-request-id'] ?? null }));
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
