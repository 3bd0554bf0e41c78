// The hint under the sign-in page's username field names this directory's own forms (ldap.netbiosDomain,
// ldap.upnSuffixes), or the operator's own words per language (ui.usernameHint), in English and Chinese.
// Screenshots: test-artifacts/screenshots/login-hint-*.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser, openPage, screenshot, startTogether, type OpenPage } from '../support/browser.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let acme: TestGateway;
let custom: TestGateway;
let bare: TestGateway;
let browser: Browser;
const open: OpenPage[] = [];

before(async () => {
  [acme, custom, bare, browser] = await startTogether<[TestGateway, TestGateway, TestGateway, Browser]>([
    startTestGateway({ ldap: { netbiosDomain: 'ACME', upnSuffixes: ['ad.acme.example', 'acme.example'] } }),
    startTestGateway({ ui: { usernameHint: { en: 'Your ACME login, as on your badge', 'zh-CN': '工牌上的 ACME 登录名' } } }),
    startTestGateway({ ldap: { netbiosDomain: '', upnSuffixes: [] } }),
    launchBrowser(),
  ]);
});
after(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  await browser?.close();
  await Promise.allSettled([acme, custom, bare].map((g) => g?.close()));
});

/** The hint as the browser shows it, and as assistive technology reads it (the field's description). */
async function hintOn(base: string, locale: string, shot?: string): Promise<{ shown: string; description: string }> {
  const p = await openPage(browser, { locale });
  open.push(p);
  await p.page.goto(`${base}/_gateway/login`);
  const shown = (await p.page.locator('#username-hint').innerText()).trim();
  const description = await p.page.evaluate(() => {
    const ids = document.getElementById('username')?.getAttribute('aria-describedby')?.split(/\s+/) ?? [];
    return ids.map((x) => document.getElementById(x)?.textContent?.trim() ?? '').join(' ');
  });
  if (shot) await screenshot(p.page, shot);
  return { shown, description };
}

describe('the username hint on the sign-in page', () => {
  test('is built from ldap.netbiosDomain and the first of ldap.upnSuffixes, in English', async () => {
    const h = await hintOn(acme.url, 'en', 'login-hint-acme-en');
    assert.equal(h.shown, 'alice, ACME\\alice or alice@ad.acme.example');
    assert.equal(h.description, h.shown);
    assert.doesNotMatch(h.shown, /CORP|corp\.example\.com/);
  });

  test('and in Chinese', async () => {
    const h = await hintOn(acme.url, 'zh-CN', 'login-hint-acme-zh');
    assert.equal(h.shown, 'alice、ACME\\alice 或 alice@ad.acme.example');
  });

  test('names only the bare account name when neither a NetBIOS domain nor a UPN suffix is set', async () => {
    assert.equal((await hintOn(bare.url, 'en')).shown, 'alice');
    assert.equal((await hintOn(bare.url, 'zh-CN')).shown, 'alice');
  });

  test('ui.usernameHint replaces it per language', async () => {
    assert.equal((await hintOn(custom.url, 'en', 'login-hint-custom-en')).shown, 'Your ACME login, as on your badge');
    const zh = await hintOn(custom.url, 'zh-CN', 'login-hint-custom-zh');
    assert.equal(zh.shown, '工牌上的 ACME 登录名');
    assert.equal(zh.description, zh.shown);
  });

  test('Chinese text renders in a CJK font, not as missing-glyph boxes', async () => {
    const p = await openPage(browser, { locale: 'zh-CN' });
    open.push(p);
    await p.page.goto(`${custom.url}/_gateway/login`);
    // The fonts Chromium actually drew the hint with: without a CJK font the characters are boxes.
    const fonts = await p.context.newCDPSession(p.page).then(async (cdp) => {
      await cdp.send('DOM.enable');
      await cdp.send('CSS.enable');
      const { root } = await cdp.send('DOM.getDocument');
      const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: '#username-hint' });
      return (await cdp.send('CSS.getPlatformFontsForNode', { nodeId })).fonts.map((f) => f.familyName);
    });
    assert.ok(fonts.some((f) => /WenQuanYi|Noto Sans CJK|Droid Sans Fallback/i.test(f)), `the hint is drawn with a CJK font (${fonts.join(', ')})`);
  });
});
