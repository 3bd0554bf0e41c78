// The demo's pieces (src/dev/demo.ts) against the test run's DC and Redis, in Chromium: signing in as alice provisions
// her into the stand-in Sentry, whose page shows her role and teams as its Sentry API holds them beside the verified
// claims; the console's Sync page previews and applies. Screenshots: test-artifacts/screenshots/demo-*.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startDemo, type Demo } from '../../src/dev/demo.js';
import { DEMO_PASSWORD, USERS } from '../../src/dev/fixtures.js';
import { freePort } from '../../src/dev/redisServer.js';
import { createLogger } from '../../src/shared/logger.js';
import { checkSentryUrlPrefix } from '../../src/sentry/urlPrefix.js';
import { launchBrowser, openPage, screenshot, startTogether, type OpenPage } from '../support/browser.js';
import { testDc } from '../support/dc.js';
import { testRedisUrl } from '../support/gateway.js';

let demo: Demo;
let browser: Browser;
const open: OpenPage[] = [];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sag-test-demo-'));
  [demo, browser] = await startTogether<[Demo, Browser]>([
    // A Redis database of its own: the demo provisions, syncs and remembers managed members for organization
    // "acme", which the other suites' fake Sentries also call theirs.
    freePort().then((port) => startDemo({ dir, dc: testDc(), redisUrl: testRedisUrl().replace(/\/\d*$/, '/14'), port, logger: createLogger('silent') })),
    launchBrowser(),
  ]);
});
after(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  await browser?.close();
  await demo?.close();
});

async function newPage(): Promise<Page> {
  const p = await openPage(browser, { locale: 'en' });
  open.push(p);
  return p.page;
}

const text = async (page: Page, sel: string) => ((await page.locator(sel).first().innerText()) ?? '').replace(/\s+/g, ' ').trim();

describe('the demo', () => {
  test('signing in as alice provisions her: the stand-in page shows her Sentry role and teams beside the claims', async () => {
    const page = await newPage();
    await page.goto(`${demo.publicUrl}/`);
    assert.equal(new URL(page.url()).pathname, '/_gateway/login');
    await page.locator('#username').fill('alice');
    await page.locator('#password').fill(DEMO_PASSWORD);
    // Sign-in includes provisioning (up to sentry.loginTimeout): more than the page's default 5 s on a busy machine.
    await Promise.all([page.waitForURL((u) => u.pathname === '/', { timeout: 20_000 }), page.locator('#password').press('Enter', { timeout: 20_000 })]);
    await page.getByRole('heading', { name: 'In Sentry', exact: true }).waitFor();
    assert.equal(await text(page, '#org-role'), 'manager');
    const teams = await text(page, '#membership table');
    assert.match(teams, /#backend Team Admin/, 'a manager is at least team admin in every team');
    assert.match(teams, /#sre Team Admin/);
    assert.doesNotMatch(teams, /#rnd/);
    assert.match(await text(page, 'pre'), new RegExp(USERS.alice.email.replace(/\./g, '\\.')), 'the verified claims beside it');
    // The API the gateway provisioned through holds the same.
    const held = demo.sentryApi.member(USERS.alice.email);
    assert.equal(held?.orgRole, 'manager');
    assert.deepEqual(Object.keys(held!.effectiveTeamRoles).sort(), ['backend', 'sre']);
    await screenshot(page, 'demo-stand-in-alice');
  });

  test("the console's Sync page previews and applies a plan into the demo's Sentry", async () => {
    const page = await newPage();
    await page.goto(`${demo.publicUrl}/_gateway/admin/sync`);
    await page.locator('#username').fill('alice');
    await page.locator('#password').fill(DEMO_PASSWORD);
    await Promise.all([page.waitForURL((u) => u.pathname === '/_gateway/admin/sync', { timeout: 20_000 }), page.locator('#password').press('Enter', { timeout: 20_000 })]);
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Preview the plan' }).click()]);
    await page.getByRole('heading', { name: 'Plan' }).waitFor();
    assert.match(await text(page, '#plan-table'), /carol carol@corp\.example\.com invite as member \+ team rnd \(contributor\)/);
    assert.equal(demo.sentryApi.member('carol@corp.example.com'), undefined, 'nothing applied before confirming');
    await screenshot(page, 'demo-sync-plan');
    await Promise.all([page.waitForURL(/\/sync\/runs\//), page.getByRole('button', { name: /^Apply these \d+ changes$/ }).click()]);
    await page.waitForFunction(() => !document.querySelector('meta[http-equiv=refresh]'), undefined, { timeout: 20_000 });
    assert.equal(await text(page, '#run-status'), 'done');
    assert.equal(demo.sentryApi.member('carol@corp.example.com')?.orgRole, 'member');
    assert.deepEqual(Object.keys(demo.sentryApi.member('carol@corp.example.com')!.effectiveTeamRoles), ['rnd']);
  });

  // A newcomer's first look must not be a red banner they cannot act on: every console page and the stand-in page,
  // in both languages, render without one. Banners are the `alert` class and role=alert (views/), whatever they say.
  for (const locale of ['en', 'zh-CN']) {
    test(`signed in as alice, the console pages and the stand-in page show no warning or error banner (${locale})`, async () => {
      const p = await openPage(browser, { locale });
      open.push(p);
      const page = p.page;
      await page.goto(`${demo.publicUrl}/_gateway/admin/`);
      await page.locator('#username').fill('alice');
      await page.locator('#password').fill(DEMO_PASSWORD);
      await Promise.all([page.waitForURL((u) => u.pathname === '/_gateway/admin/', { timeout: 20_000 }), page.locator('#password').press('Enter', { timeout: 20_000 })]);
      const pages = ['/_gateway/admin/', '/_gateway/admin/sync', '/_gateway/admin/sessions', '/_gateway/admin/audit', '/_gateway/admin/explain', '/_gateway/admin/explain?user=alice', '/_gateway/admin/mfa', '/'];
      const banners: string[] = [];
      for (const path of pages) {
        const res = await page.goto(`${demo.publicUrl}${path}`);
        assert.equal(res?.status(), 200, path);
        if (path !== '/') assert.equal(await page.locator('html').getAttribute('lang'), locale, `${path} is in ${locale}`);
        for (const b of await page.locator(':is(.alert, [role="alert"]):visible').allInnerTexts()) banners.push(`${path}: ${b.replace(/\s+/g, ' ').trim()}`);
      }
      assert.deepEqual(banners, [], `banners a newcomer would see:\n${banners.join('\n')}`);
    });
  }

  test("the demo's Sentry has the public URL as its system.url-prefix, as a well-configured one does", async () => {
    const token = readFileSync(demo.config.sentry.tokenFile!, 'utf8').trim();
    const finding = await checkSentryUrlPrefix({ apiBase: demo.config.sentry.url!, organization: demo.config.sentry.organization!, token, publicUrl: demo.publicUrl });
    assert.deepEqual(finding, { status: 'match', urlPrefix: demo.publicUrl });
  });

  test("the demo's table says what each account gets in Sentry", () => {
    // The first row for each account (alice comes back later with a wrong password).
    const byUser = new Map<string | undefined, string | undefined>();
    for (const r of demo.rows.slice(1)) if (!byUser.has(r[0])) byUser.set(r[0], r[3]);
    assert.equal(demo.rows[0]![3], 'in Sentry');
    assert.equal(byUser.get('alice'), 'manager; teams sre and backend, team admin in both');
    assert.equal(byUser.get('carol'), 'member; team rnd');
    assert.equal(byUser.get('outsider'), 'nothing');
  });
});
