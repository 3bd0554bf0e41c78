// A security key in a real browser: Chromium's CDP virtual authenticator enrols at the first sign-in and then signs in,
// in English and Chinese. server.publicUrl is http://localhost:PORT (WebAuthn refuses an IP address as RP ID).
// Screenshots land in test-artifacts/screenshots/ for a human to look at.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { launchBrowser, openPage, screenshot, startTogether, type OpenPage } from '../support/browser.js';
import { sambaTool } from '../support/dc.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const keyDir = mkdtempSync(join(tmpdir(), 'sag-mfa-key-'));
const keyFile = join(keyDir, 'mfa_key');
writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });

let t: TestGateway;
let browser: Browser;
let base: string;
const open: OpenPage[] = [];
const people: string[] = [];

before(async () => {
  [t, browser] = await startTogether<[TestGateway, Browser]>([
    // Everyone needs a factor; a first one may be enrolled from this machine (loopback is an enrolFrom network).
    startTestGateway({ mfa: { require: 'always', enrolFrom: ['127.0.0.0/8', '::1/128'], methods: ['webauthn', 'totp'], keyFile } }, { publicHost: 'localhost' }),
    launchBrowser(),
  ]);
  base = t.config.server.publicUrl;
});
after(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  for (const g of people) await t?.gw.deps.mfa?.store.reset(g).catch(() => undefined);
  await browser?.close();
  await t?.close();
});

/** A page with a CTAP2 security key that verifies the user, as Chromium's DevTools protocol provides one. */
async function pageWithKey(locale: string): Promise<Page> {
  const p = await openPage(browser, { locale });
  open.push(p);
  const cdp = await p.context.newCDPSession(p.page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return p.page;
}

async function signIn(page: Page, user: string, next: string): Promise<void> {
  await page.goto(`${base}/_gateway/login?next=${encodeURIComponent(next)}`);
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(DEMO_PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.locator('button[type=submit]').click()]);
}

/** The claims of the assertion the upstream receives for this browser (read, not verified: the integration suites verify). */
async function claimsOf(page: Page): Promise<Record<string, unknown>> {
  const res = await page.request.get(`${base}/organizations/acme/issues/`, { headers: { accept: 'application/json' } });
  assert.equal(res.status(), 200);
  const token = ((await res.json()) as { headers: Record<string, string> }).headers['x-sentry-gateway-assertion']!;
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

for (const [locale, enrolHeading, keyButton, doneHeading, stepHeading, signInButton, useRecovery, wrongCode] of [
  ['en', 'Add a second factor', 'Add a security key or passkey', 'Second factor added', 'Second step', 'Use my security key or passkey', 'Use recovery code', 'That code is not valid'],
  ['zh-CN', '添加第二重验证', '添加安全密钥或通行密钥', '已添加第二重验证', '第二步验证', '使用我的安全密钥或通行密钥', '使用恢复码', '验证码无效'],
] as const) {
  describe(`security key (${locale})`, () => {
    test('enrols at the first sign-in, shows recovery codes once, then signs in with the key', async () => {
      const user = `mfa-e2e-${locale === 'en' ? 'en' : 'zh'}`;
      await sambaTool(['user', 'create', user, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${user}@corp.example.com`]);
      await sambaTool(['group', 'addmembers', 'Sentry Users', user]);
      const page = await pageWithKey(locale);
      const next = '/organizations/acme/issues/';

      await signIn(page, user, next);
      await page.waitForURL(/\/_gateway\/mfa\/enrol/);
      await page.getByRole('heading', { level: 1, name: enrolHeading }).waitFor({ state: 'visible' });
      await screenshot(page, `mfa-enrol-${locale}`);
      await page.getByRole('button', { name: keyButton }).click();
      await page.getByRole('heading', { level: 2, name: doneHeading }).waitFor({ state: 'visible' });
      assert.equal(await page.locator('#recovery-codes li').count(), 10, 'ten recovery codes');
      await screenshot(page, `mfa-enrolled-${locale}`);
      const enrolled = await claimsOf(page);
      assert.deepEqual(enrolled.amr, ['pwd', 'hwk', 'mfa'], 'a security key bound to one device is hwk');
      // From loopback, as the browser's requests are: the policy is judged on each request's address.
      const found = await t.gw.deps.resolver.lookup({ headers: { cookie: (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ') }, socket: { remoteAddress: '127.0.0.1' } } as never);
      assert.equal(found.status, 'ok');
      if (found.status === 'ok') people.push(found.identity.sub);

      // Signed out (the key stays): the password, then the key.
      await page.context().clearCookies();
      await signIn(page, user, next);
      await page.waitForURL(/\/_gateway\/mfa\?next=/);
      await page.getByRole('heading', { level: 1, name: stepHeading }).waitFor({ state: 'visible' });
      await screenshot(page, `mfa-step-${locale}`);
      await page.locator('#recovery').fill('aaaaa-bbbbb');
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: useRecovery }).click()]);
      assert.match(await page.locator('#mfa-error').innerText(), new RegExp(wrongCode));
      await screenshot(page, `mfa-step-${locale}-wrong`);
      await Promise.all([page.waitForURL(`${base}${next}`), page.getByRole('button', { name: signInButton }).click()]);
      const claims = await claimsOf(page);
      assert.deepEqual(claims.amr, ['pwd', 'hwk', 'mfa']);
      assert.equal(typeof claims.mfa_time, 'number');
    });
  });
}
