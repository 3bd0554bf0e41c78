// Re-authentication in a real browser: the page Sentry's sudo prompt links to, in English and Chinese.
// Screenshots land in test-artifacts/screenshots/ for a human to look at.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { launchBrowser, openPage, screenshot, startTogether, type OpenPage } from '../support/browser.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let t: TestGateway;
let browser: Browser;
const open: OpenPage[] = [];

before(async () => {
  [t, browser] = await startTogether<[TestGateway, Browser]>([startTestGateway({ throttle: { perAddress: 1000 } }), launchBrowser()]);
});
after(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  await browser?.close();
  await t?.close();
});

async function signedIn(locale: string): Promise<Page> {
  const p = await openPage(browser, { locale });
  open.push(p);
  const page = p.page;
  await page.goto(`${t.url}/_gateway/login`);
  await page.locator('#username').fill('alice');
  await page.locator('#password').fill(DEMO_PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.locator('button[type=submit]').click()]);
  return page;
}

async function sessionCookie(page: Page): Promise<string | undefined> {
  return (await page.context().cookies()).find((c) => c.name.endsWith('sag_session'))?.value;
}

for (const [locale, heading, confirm, wrong] of [
  ['en', 'Confirm it is you', 'Confirm', 'Invalid username or password.'],
  ['zh-CN', '确认您的身份', '确认', '用户名或密码错误。'],
] as const) {
  describe(`re-authentication (${locale})`, () => {
    test('shows the account, refuses a wrong password, then returns to the page with a new session', async () => {
      const page = await signedIn(locale);
      const before = await sessionCookie(page);
      await page.goto(`${t.url}/_gateway/reauth?next=${encodeURIComponent('/settings/account/api/auth-tokens/')}`);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor({ state: 'visible' });
      assert.equal(await page.locator('#username').inputValue(), 'alice');
      assert.equal(await page.locator('#username').isEditable(), false, 'the account is the session’s');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
      await screenshot(page, `reauth-${locale}`);

      await page.locator('#password').fill('not-the-password');
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: confirm }).click()]);
      assert.equal((await page.getByRole('alert').innerText()).trim(), wrong);
      assert.equal(await sessionCookie(page), before, 'a wrong password changes nothing');
      await screenshot(page, `reauth-${locale}-wrong`);

      await page.locator('#password').fill(DEMO_PASSWORD);
      await Promise.all([page.waitForURL(/\/settings\/account\/api\/auth-tokens\/$/), page.getByRole('button', { name: confirm }).click()]);
      assert.notEqual(await sessionCookie(page), before, 'a new session id');
    });
  });
}
