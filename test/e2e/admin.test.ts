// The admin console in a real browser against the real Samba DC and a fake Sentry: an admin adds a rule, explains a
// user, previews and applies a sync, revokes a session; a non-admin is refused. Screenshots: test-artifacts/screenshots/admin-*.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { startConsole, type ConsoleSetup } from '../support/adminHelpers.js';
import { assertNoViolations } from '../../src/dev/fakeSentry.js';
import { launchBrowser, MOBILE, openPage, screenshot, startTogether, type OpenPage, type PageOptions } from '../support/browser.js';

let s: ConsoleSetup;
let browser: Browser;
const open: OpenPage[] = [];

before(async () => {
  [s, browser] = await startTogether<[ConsoleSetup, Browser]>([startConsole('console-e2e', { server: { logoUrl: '/_gateway/static/logo-test.svg' } }), launchBrowser()]);
});
after(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  await browser?.close();
  if (s) assertNoViolations(s.fake);
  await s?.close();
});

async function newPage(opts: PageOptions = {}): Promise<Page> {
  const p = await openPage(browser, opts);
  open.push(p);
  return p.page;
}

async function signIn(page: Page, username: string, next = '/_gateway/admin/'): Promise<void> {
  await page.goto(`${s.t.url}${next}`);
  assert.equal(new URL(page.url()).pathname, '/_gateway/login', 'anonymous → the login page');
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(DEMO_PASSWORD);
  await Promise.all([page.waitForEvent('load'), page.locator('#password').press('Enter')]);
}

const text = async (page: Page, sel: string) => ((await page.locator(sel).first().innerText()) ?? '').replace(/\s+/g, ' ').trim();

describe('the admin console in Chromium', () => {
  test('an admin adds a rule with the keyboard, explains a user, previews and applies a sync, and revokes a session', async () => {
    const bobPage = await newPage({ locale: 'en' });
    await signIn(bobPage, 'bob', '/');
    const page = await newPage({ locale: 'en' });
    await signIn(page, 'alice');
    assert.equal(new URL(page.url()).pathname, '/_gateway/admin/');
    await page.getByRole('heading', { level: 1, name: 'Mapping rules' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Mappings' }).getAttribute('aria-current'), 'page');
    await screenshot(page, 'admin-mappings-en');

    // Add a rule: search AD for the group, pick it, choose a new team, consent to creating it, save.
    await page.getByRole('link', { name: 'Add a rule' }).click();
    await page.getByRole('heading', { level: 1, name: 'Add a rule' }).waitFor();
    await page.getByLabel('AD group').fill('backend');
    await Promise.all([page.waitForEvent('load'), page.getByLabel('AD group').press('Enter')]);
    await page.getByRole('heading', { name: 'Groups in AD matching “backend”' }).waitFor();
    await page.getByRole('button', { name: 'Use' }).first().focus();
    await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
    assert.equal(await page.getByLabel('AD group').inputValue(), 'Backend Devs');
    assert.deepEqual(await page.locator('#sentry-teams option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), ['backend'], 'the team field offers Sentry’s teams');
    await page.getByLabel('Team 1', { exact: true }).fill('payments');
    await page.getByLabel('Role in team 1').selectOption('admin');
    await page.getByLabel('Username').fill('alice');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Preview' }).click()]);
    assert.match(await text(page, '.preview'), /Nothing would change for alice\./);
    await screenshot(page, 'admin-rule-editor-en');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Save rule' }).click()]);
    assert.match(await text(page, '[role=alert]'), /Team “payments” does not exist in Sentry/);
    await page.getByLabel('Create teams that do not exist in Sentry yet').check();
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Save rule' }).click()]);
    assert.equal(new URL(page.url()).pathname, '/_gateway/admin/');
    assert.match(await text(page, '[role=status]'), /Rule saved: the mapping is now version \d+\. Created in Sentry: payments\./);
    assert.ok(s.fake.teamSlugs().includes('payments'));
    assert.match(await text(page, 'table.rules tbody tr:last-child'), /Backend Devs .*payments \(admin\)/);
    await screenshot(page, 'admin-mappings-saved-en');

    // Explain a user: nesting path, decision, and which rule gave each team.
    await page.getByRole('link', { name: 'Explain' }).click();
    await page.getByLabel('Username').fill('alice');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Explain' }).click()]);
    assert.match(await text(page, '#access-line'), /Access allowed: member of the allow group Sentry Users/);
    assert.match(await text(page, '#groups-table'), /Sentry Users via Platform Oncall → SRE/);
    assert.match(await text(page, '#teams-table'), /sre admin rule \d+ \(SRE\)/);
    await screenshot(page, 'admin-explain-en');

    // Sync: the plan as a diff, one confirmation, progress, the result.
    await page.getByRole('link', { name: 'Sync' }).click();
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Preview the plan' }).click()]);
    await page.getByRole('heading', { name: 'Plan' }).waitFor();
    assert.match(await text(page, '#plan-table'), /bob bob@staff\.example\.org invite as member \+ team backend \(contributor\) \+ team payments \(admin\)/);
    assert.deepEqual(s.fake.writes().filter((w) => !w.path.includes('/teams/')), [], 'nothing applied before confirming');
    await screenshot(page, 'admin-sync-plan-en');
    await Promise.all([page.waitForURL(/\/sync\/runs\//), page.getByRole('button', { name: /^Apply these \d+ changes$/ }).click()]);
    await page.waitForFunction(() => !document.querySelector('meta[http-equiv=refresh]'), undefined, { timeout: 20_000 });
    await page.locator('#run-status').waitFor();
    assert.equal(await text(page, '#run-status'), 'done');
    assert.match(await text(page, '#run-result'), /^\d+ applied, 0 failed$/);
    assert.deepEqual(Object.keys(s.fake.member('bob@staff.example.org')!.teams).sort(), ['backend', 'payments']);
    await screenshot(page, 'admin-sync-run-en');

    // Sessions: bob is listed; revoking sends his browser back to the login page.
    await page.getByRole('link', { name: 'Sessions' }).click();
    assert.match(await text(page, '#sessions-table'), /bob/);
    await screenshot(page, 'admin-sessions-en');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Revoke all of bob’s sessions' }).click()]);
    assert.match(await text(page, '[role=status]'), /Ended 1 session\(s\) of bob\./);
    await bobPage.goto(`${s.t.url}/organizations/acme/issues/`);
    assert.equal(new URL(bobPage.url()).pathname, '/_gateway/login', 'bob must sign in again');

    // The audit log has all of it.
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Kind').selectOption('mapping.change');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Filter' }).click()]);
    assert.match(await text(page, '#audit-table'), /Mapping edited alice/);
    await page.getByLabel('Kind').selectOption('');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Filter' }).click()]);
    await screenshot(page, 'admin-audit-en');
  });

  test('a non-admin is refused, in their language', async () => {
    const page = await newPage({ locale: 'zh-CN' });
    await signIn(page, 'carol');
    assert.equal(await page.locator('h1').innerText(), '出错了');
    assert.match(await text(page, '[role=alert]'), /您无权访问此页面。/);
    await screenshot(page, 'admin-forbidden-zh-CN');
  });

  test('the console speaks Chinese', async () => {
    const page = await newPage({ locale: 'zh-CN' });
    await signIn(page, 'alice', '/_gateway/admin/explain?user=carol');
    await page.getByRole('heading', { level: 1, name: '解析用户' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    assert.match(await text(page, '#groups-table'), /研发部/);
    await screenshot(page, 'admin-explain-zh-CN');
    await page.getByRole('link', { name: '映射规则', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: '映射规则' }).waitFor();
    await screenshot(page, 'admin-mappings-zh-CN');
    await page.getByRole('link', { name: '同步' }).click();
    await screenshot(page, 'admin-sync-zh-CN');
  });

  test('on a phone the console fits the screen', async () => {
    const page = await newPage({ locale: 'en', viewport: MOBILE, isMobile: true });
    await signIn(page, 'alice');
    const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    assert.ok(m.scroll <= m.client, `page scrolls sideways (${m.scroll} > ${m.client})`);
    await screenshot(page, 'admin-mappings-mobile');
  });

  test('the login page shows the organization’s logo', async () => {
    const page = await newPage({ locale: 'en' });
    await page.goto(`${s.t.url}/_gateway/login`);
    const logo = page.getByRole('img', { name: 'Acme Sentry logo' });
    assert.equal(await logo.getAttribute('src'), '/_gateway/static/logo-test.svg');
  });
});
