// One OpenID Connect login, end to end, as a relying party and its user would do it:
// openid-client (a certified relying-party library) discovers the provider, pushes the
// authorization request (PAR) and later redeems the code, validates the ID token, reads
// userinfo and refreshes; headless Chromium (Debian's, driven by playwright-core) is the
// user's browser on the login pages. The user's phone is the test's virtual phone, which
// approves when the request reaches it.
//
// Input (environment): ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, NUMBER (national
// digits), UI_LOCALES, SCREENSHOTS (a directory), NODE_EXTRA_CA_CERTS (our CA).
// Output: "waiting page shown <session code>" when the user may answer on the phone (and
// pick that code), then one JSON line
// with what the relying party got.
import * as client from 'openid-client';
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = process.env;
const config = await client.discovery(new URL(env.ISSUER), env.CLIENT_ID, undefined, client.ClientSecretBasic(env.CLIENT_SECRET));
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorizationUrl = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: env.REDIRECT_URI,
  scope: 'openid profile phone offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
  ui_locales: env.UI_LOCALES,
});

const userDataDir = mkdtempSync(join(tmpdir(), 'mobileid-chromium-'));
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  ignoreHTTPSErrors: true,
  viewport: { width: 390, height: 844 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
    '--no-first-run', '--disable-component-update', '--disable-sync'],
});
const pages = {};
let redirected;
try {
  const page = await browser.newPage();
  const violations = [];
  page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) violations.push(message.text()); });
  // The relying party's callback is never contacted (its host does not exist): the
  // provider's redirect there is the answer.
  page.on('response', (response) => {
    const location = response.headers().location;
    if (location && location.startsWith(env.REDIRECT_URI)) redirected = location;
  });
  const snap = async (name, shown = page) => {
    await shown.screenshot({ path: join(env.SCREENSHOTS, `oidc-${name}-${env.UI_LOCALES}.png`), fullPage: true });
    pages[name] = { title: await shown.title(), text: await shown.evaluate(() => document.body.innerText), lang: await shown.evaluate(() => document.documentElement.lang) };
  };
  await page.goto(authorizationUrl.href, { timeout: 20000 });
  await page.waitForSelector('input#number');
  await snap('phone');
  await page.fill('input#number', env.NUMBER);
  await page.click('button[type=submit]');
  await page.waitForSelector('.code');
  pages.sessionCode = await page.textContent('.code');
  await snap('waiting');
  // The user looks at the page, then at the phone: the test's phone approves on this line.
  console.log(`waiting page shown ${pages.sessionCode.trim()}`);
  // The page follows the phone's answer by itself.
  await page.waitForSelector('ul.claims', { timeout: 30000 });
  await snap('consent');
  await page.click('button[value=confirm]');
  for (let waited = 0; !redirected; waited += 100) {
    if (waited > 20000) throw new Error(`no redirect to the relying party; the browser is at ${page.url()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // An error page (a request without a client), in a tab of its own: the first one is
  // still on its way to the relying party's (non-existent) host.
  const errorPage = await browser.newPage();
  errorPage.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) violations.push(message.text()); });
  await errorPage.goto(`${env.ISSUER}/oidc/authorize?ui_locales=${env.UI_LOCALES}`);
  await snap('error', errorPage);
  pages.cspViolations = violations;
} catch (error) {
  const pagesOpen = browser.pages();
  const text = pagesOpen.length ? await pagesOpen[0].evaluate(() => document.body.innerText).catch(() => '?') : '?';
  throw new Error(`${error.message}\nThe page said: ${text}`);
} finally {
  await browser.close();
  rmSync(userDataDir, { recursive: true, force: true });
}

const tokens = await client.authorizationCodeGrant(config, new URL(redirected), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
let reuse;
try {
  await client.refreshTokenGrant(config, tokens.refresh_token);
  reuse = 'accepted';
} catch (error) {
  reuse = error.error || String(error);
}
console.log(JSON.stringify({
  pages,
  redirected,
  claims,
  userinfo,
  scope: tokens.scope,
  refreshed: { sub: refreshed.claims()?.sub, rotated: refreshed.refresh_token !== tokens.refresh_token },
  reuse,
}));
