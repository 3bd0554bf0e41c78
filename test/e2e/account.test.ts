// The self-service page /_gateway/account in a real browser, in English and Chinese: factors listed, a rename, new
// recovery codes shown once. Screenshots land in test-artifacts/screenshots/ for a human to look at.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { FactorStore } from '../../src/mfa/factorStore.js';
import { SecretBox } from '../../src/mfa/secretBox.js';
import { timeStepAt } from '../../src/mfa/totp.js';
import { SESSION_PREFIX } from '../../src/session/sessionStore.js';
import { systemClock } from '../../src/shared/clock.js';
import { launchBrowser, openPage, screenshot, startTogether, type OpenPage } from '../support/browser.js';
import { sambaTool } from '../support/dc.js';
import { startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
let dir: string;
let t: TestGateway;
let browser: Browser;
let redis: Redis;
let store: FactorStore;
const open: OpenPage[] = [];
const people = new Map<string, string>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sag-test-account-e2e-'));
  const keyFile = join(dir, 'mfa_key');
  writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  [t, browser] = await startTogether<[TestGateway, Browser]>([startTestGateway({ mfa: { keyFile, methods: ['totp'] } }), launchBrowser()]);
  redis = new Redis(testRedisUrl());
  store = new FactorStore(redis, new SecretBox(() => readFileSync(keyFile, 'utf8').split('\n').filter(Boolean)), systemClock);
});
after(async () => {
  for (const g of people.values()) await store.reset(g).catch(() => undefined);
  await Promise.allSettled(open.map((p) => p.close()));
  await browser?.close();
  redis?.disconnect();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A person with an authenticator app (used once) and a security key, made through src/mfa/ directly. */
async function personWithFactors(name: string, given: string, surname: string): Promise<string> {
  await sambaTool(['user', 'create', name, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${name}@corp.example.com`, `--given-name=${given}`, `--surname=${surname}`]).catch((e: Error) => {
    if (!/already exists/i.test(e.message)) throw e;
  });
  if (!people.has(name)) await sambaTool(['group', 'addmembers', 'Sentry Users', name]);
  const guid = (await t.gw.deps.directory.lookup(name))!.guid.toLowerCase();
  people.set(name, guid);
  await store.reset(guid);
  const app = await store.addTotp(guid, { name: 'Phone', secret: SEED });
  await store.acceptTotpStep(guid, app.id, timeStepAt(Date.now()));
  await store.addWebauthn(guid, { name: 'YubiKey 5C', credential: { credentialId: randomBytes(16).toString('base64url'), publicKey: randomBytes(32).toString('base64url'), counter: 0, transports: ['usb'] } });
  return guid;
}

/** Signs in, then stands in for the second-factor step the way it leaves the session: amr with `mfa`, and mfaAt now. */
async function signedInWithFactor(locale: string, name: string): Promise<Page> {
  const p = await openPage(browser, { locale });
  open.push(p);
  const page = p.page;
  await page.goto(`${t.url}/_gateway/login`);
  await page.locator('#username').fill(name);
  await page.locator('#password').fill(DEMO_PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.locator('button[type=submit]').click()]);
  const cookie = (await page.context().cookies()).find((c) => c.name.endsWith('sag_session'))!.value;
  const sid = decodeURIComponent(cookie).slice(2).split('.')[0]!;
  const { pendingSecondFactor: _owed, ...record } = JSON.parse((await redis.get(SESSION_PREFIX + sid))!) as Record<string, unknown>;
  await redis.set(SESSION_PREFIX + sid, JSON.stringify({ ...record, amr: ['pwd', 'otp', 'mfa'], mfaAt: t.clock.now() }), 'KEEPTTL');
  t.gw.deps.resolver.forget(sid);
  return page;
}

for (const [locale, title, app, key, rename, regenerate, shown] of [
  ['en', 'Your account', 'Authenticator app', 'Security key or passkey', 'Rename', 'Make new recovery codes', 'shown only this once'],
  ['zh-CN', '我的账号', '身份验证器应用', '安全密钥或通行密钥', '重命名', '生成新的恢复码', '只显示这一次'],
] as const) {
  describe(`account page (${locale})`, () => {
    test('lists the factors, renames one, and shows new recovery codes once', async () => {
      const [name, given, surname] = locale === 'en' ? ['acct-grace', 'Grace', 'Ng'] : ['acct-hua', '华', '李'];
      const guid = await personWithFactors(name, given, surname);
      const page = await signedInWithFactor(locale, name);
      await page.goto(`${t.url}/_gateway/account`);
      await page.getByRole('heading', { level: 1, name: title }).waitFor({ state: 'visible' });
      const rows = page.locator('#factors-table tbody tr');
      assert.equal(await rows.count(), 2);
      assert.equal((await rows.nth(0).locator('td').first().innerText()).trim(), app);
      assert.equal((await rows.nth(1).locator('td').first().innerText()).trim(), key);
      const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(scrollWidth <= innerWidth, `the page fits the window (${scrollWidth} > ${innerWidth})`);
      await screenshot(page, `account-${locale}`);

      const [phone] = await store.list(guid);
      await page.locator(`#name-${phone!.id}`).fill('Pixel 8');
      await Promise.all([page.waitForLoadState('load'), rows.nth(0).getByRole('button', { name: rename }).click()]);
      assert.equal((await page.locator('#factors-table tbody tr').nth(0).locator('th').innerText()).trim(), 'Pixel 8');
      assert.equal((await store.list(guid))[0]!.name, 'Pixel 8');

      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: regenerate }).click()]);
      const codes = await page.locator('#new-codes code').allInnerTexts();
      assert.equal(codes.length, 10);
      assert.match(await page.locator('#new-codes').innerText(), new RegExp(shown));
      assert.equal(await store.consumeRecoveryCode(guid, codes[0]!), 9, 'the codes shown work');
      await screenshot(page, `account-${locale}-codes`);
    });
  });
}

describe('console: Second factor page', () => {
  for (const [locale, button, shown] of [
    ['en', 'Issue an enrolment link', 'shown only this once'],
    ['zh-CN', '签发注册链接', '只显示这一次'],
  ] as const) {
    test(`an admin looks a person up and issues an enrolment link, shown once (${locale})`, async () => {
      const name = 'acct-ivy';
      await personWithFactors(name, 'Ivy', 'Chen');
      const p = await openPage(browser, { locale });
      open.push(p);
      const page = p.page;
      await page.goto(`${t.url}/_gateway/login?next=${encodeURIComponent(`/_gateway/admin/mfa?user=${name}`)}`);
      await page.locator('#username').fill('alice');
      await page.locator('#password').fill(DEMO_PASSWORD);
      await Promise.all([page.waitForURL(/\/_gateway\/admin\/mfa/), page.locator('button[type=submit]').click()]);
      assert.equal(await page.locator('#mfa-factors tbody tr').count(), 2);
      const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(scrollWidth <= innerWidth, `the page fits the window (${scrollWidth} > ${innerWidth})`);
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: button }).click()]);
      assert.match(await page.locator('#enrol-link').innerText(), new RegExp(shown));
      assert.match(await page.locator('#enrol-link code').innerText(), /\/_gateway\/mfa\/enrol\?link=[A-Za-z0-9_-]{43}$/);
      await screenshot(page, `admin-mfa-${locale}`);
    });
  }
});
