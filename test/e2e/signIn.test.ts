// The sign-in experience in a real browser: what a person sees and does, in English and Chinese, at laptop and phone sizes.
// Screenshots land in test-artifacts/screenshots/ for a human to look at.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { launchBrowser, MOBILE, openPage, screenshot, startTogether, type OpenPage, type PageOptions } from '../support/browser.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let t: TestGateway;
let browser: Browser;
const open: OpenPage[] = [];

before(async () => {
  // Other suites in the same run fail sign-ins from 127.0.0.1 against the same Redis; a roomy per-address
  // limit keeps this suite independent of how many they left in the window.
  [t, browser] = await startTogether<[TestGateway, Browser]>([startTestGateway({ throttle: { perAddress: 1000 } }), launchBrowser()]);
});
after(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  await browser?.close();
  await t?.close();
});

async function newPage(opts: PageOptions = {}): Promise<Page> {
  const p = await openPage(browser, opts);
  open.push(p);
  return p.page;
}

const path = (page: Page) => new URL(page.url()).pathname;

/** What the echo upstream says it received, as the browser shows its JSON. */
async function upstreamEcho(page: Page): Promise<{ url: string; headers: Record<string, string> }> {
  const text = await page.locator('pre').first().textContent();
  assert.ok(text, 'the browser shows the upstream answer');
  return JSON.parse(text) as { url: string; headers: Record<string, string> };
}

async function assertFocused(page: Page, id: string): Promise<void> {
  await page.waitForFunction((want) => document.activeElement?.id === want, id, { timeout: 2_000 }).catch(() => undefined);
  assert.equal(await page.evaluate(() => document.activeElement?.id), id, `#${id} has the keyboard focus`);
}

/** The focused element draws a visible focus ring (an outline at least 2px wide). */
async function assertFocusRing(page: Page): Promise<void> {
  const outline = await page.evaluate(() => {
    const el = document.activeElement as HTMLElement;
    const s = getComputedStyle(el);
    return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  assert.notEqual(outline.style, 'none', 'focus is visible');
  assert.ok(outline.width >= 2, `focus ring is ${outline.width}px`);
}

/** Nothing spills sideways: no horizontal scrolling and the card fits in the viewport. */
async function assertFitsWidth(page: Page): Promise<void> {
  const m = await page.evaluate(() => {
    const card = document.querySelector('main')!.getBoundingClientRect();
    return { scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth, left: card.left, right: card.right };
  });
  assert.ok(m.scroll <= m.client, `page scrolls sideways (${m.scroll} > ${m.client})`);
  assert.ok(m.left >= 0 && m.right <= m.client, `the card sticks out of the viewport (${m.left}…${m.right} of ${m.client})`);
}

/** The accessible description of the element with `id`: the text of whatever its aria-describedby points at. */
function describedBy(page: Page, id: string): Promise<string> {
  return page.evaluate((want) => {
    const ids = document.getElementById(want)?.getAttribute('aria-describedby')?.split(/\s+/) ?? [];
    return ids.map((x) => document.getElementById(x)?.textContent?.trim() ?? '').join(' ');
  }, id);
}

/** WCAG contrast ratio of two computed `rgb(…)` colours. */
function contrast(a: string, b: string): number {
  const lum = (css: string) => {
    const [r, g, bl] = (css.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
      const x = Number(v) / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** The text of the visible alert, after it has appeared. */
async function alertText(page: Page): Promise<string> {
  const alert = page.getByRole('alert');
  await alert.waitFor({ state: 'visible' });
  return (await alert.innerText()).trim();
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByRole('textbox', { name: /Username|用户名/ }).fill(username);
  await page.locator('#password').fill(password);
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: /^(Sign in|登录)$/ }).click()]);
}

describe('signing in with the keyboard (English)', () => {
  test('a deep link leads to the login page and, after Enter, back to where it pointed', async () => {
    const page = await newPage({ locale: 'en-US' });
    await page.goto(`${t.url}/organizations/acme/issues/`);
    assert.equal(path(page), '/_gateway/login');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/organizations/acme/issues/');
    assert.equal(await page.title(), 'Sign in to Acme Sentry');
    await page.getByRole('heading', { level: 1, name: 'Sign in to Acme Sentry' }).waitFor({ state: 'visible' });
    assert.equal(await page.getByRole('alert').count(), 0, 'no error before trying');

    await assertFocused(page, 'username');
    await assertFocusRing(page);
    await assertFitsWidth(page);
    await screenshot(page, 'login-en');

    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await assertFocused(page, 'password');
    await page.keyboard.type(DEMO_PASSWORD);
    await Promise.all([page.waitForURL((u) => u.pathname === '/organizations/acme/issues/'), page.keyboard.press('Enter')]);

    const echo = await upstreamEcho(page);
    assert.equal(echo.url, '/organizations/acme/issues/');
    assert.ok(echo.headers['x-sentry-gateway-assertion'], 'Sentry received the assertion');
    assert.doesNotMatch(echo.headers['cookie'] ?? '', /sag_session/, 'the gateway cookie never reaches Sentry');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'sag_session');
    assert.ok(session?.httpOnly, 'the browser holds an HttpOnly session cookie');
  });
});

describe('signing in in Chinese', () => {
  test('the page speaks Chinese, a wrong password keeps the username, and the language link switches both ways', async () => {
    const page = await newPage({ locale: 'zh-CN' });
    await page.goto(`${t.url}/organizations/acme/issues/`);
    assert.equal(path(page), '/_gateway/login');
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await page.getByRole('heading', { level: 1, name: '登录 Acme Sentry' }).waitFor({ state: 'visible' });
    await page.getByText('请使用公司（Active Directory）账号登录。').waitFor({ state: 'visible' });
    await page.getByLabel('用户名').waitFor({ state: 'visible' });
    await page.getByLabel('密码').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: '登录' }).waitFor({ state: 'visible' });
    await assertFocused(page, 'username');
    await assertFitsWidth(page);
    await screenshot(page, 'login-zh-CN');

    await signIn(page, 'alice', 'not-her-password');
    assert.equal(path(page), '/_gateway/login', 'stays on the login page');
    assert.equal(await alertText(page), '用户名或密码错误。');
    assert.equal(await page.locator('#username').inputValue(), 'alice', 'the username is kept');
    assert.equal(await page.locator('#password').inputValue(), '', 'the password is not');
    await assertFocused(page, 'password');
    await assertFocusRing(page);
    assert.equal(await describedBy(page, 'password'), '用户名或密码错误。', 'a screen reader hears the error with the focused field');
    assert.equal(await page.locator('input[name=next]').inputValue(), '/organizations/acme/issues/', 'where to go next survives the error');
    await screenshot(page, 'login-error-zh-CN');

    await Promise.all([page.waitForURL(/lang=en/), page.getByRole('link', { name: 'English' }).click()]);
    await page.getByRole('heading', { level: 1, name: 'Sign in to Acme Sentry' }).waitFor({ state: 'visible' });
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/organizations/acme/issues/', 'the language link keeps next');
    await Promise.all([page.waitForURL(/lang=zh-CN/), page.getByRole('link', { name: '中文' }).click()]);
    await page.getByRole('heading', { level: 1, name: '登录 Acme Sentry' }).waitFor({ state: 'visible' });

    // The chosen language sticks through a sign-in attempt even though the browser asks for Chinese anyway.
    await page.goto(`${t.url}/_gateway/login?lang=en`);
    await signIn(page, 'alice', 'still-not-her-password');
    assert.equal(await alertText(page), 'Invalid username or password.');
  });

  test('on a phone the Chinese page fits the screen', async () => {
    const page = await newPage({ locale: 'zh-CN', viewport: MOBILE, isMobile: true });
    await page.goto(`${t.url}/_gateway/login`);
    await page.getByRole('heading', { level: 1, name: '登录 Acme Sentry' }).waitFor({ state: 'visible' });
    await assertFitsWidth(page);
    const button = await page.getByRole('button', { name: '登录' }).boundingBox();
    assert.ok(button && button.height >= 40, 'the button is a comfortable touch target');
    await screenshot(page, 'login-zh-CN-mobile');
  });
});

describe('colour scheme', () => {
  test('in a dark colour scheme the error and the button stay readable', async () => {
    const page = await newPage({ locale: 'en', colorScheme: 'dark' });
    await page.goto(`${t.url}/_gateway/login`);
    await signIn(page, 'dave', 'wrong-in-the-dark');
    assert.equal(await alertText(page), 'Invalid username or password.');
    // No named helpers inside evaluate: the TS transform would wrap them in a function the page does not have.
    const c = await page.evaluate(() => {
      const [body, button, alert] = ['body', 'button', '.alert'].map((sel) => getComputedStyle(document.querySelector(sel)!));
      return { page: body!.backgroundColor, button: [button!.color, button!.backgroundColor], alert: [alert!.color, alert!.backgroundColor] };
    });
    assert.notEqual(c.page, 'rgb(246, 245, 248)', 'the page follows the dark scheme');
    for (const [what, [fg, bg]] of [['button', c.button], ['error', c.alert]] as const) {
      const ratio = contrast(fg!, bg!);
      assert.ok(ratio >= 4.5, `${what} text contrast ${ratio.toFixed(2)}:1 is below 4.5:1`);
    }
    await screenshot(page, 'login-error-en-dark');
  });
});

describe('refusals read clearly in both languages', () => {
  const cases = [
    {
      user: 'disabled',
      code: 'account_disabled',
      en: 'Your account is disabled. Contact IT.',
      zh: '您的账号已被禁用，请联系 IT。',
      shot: 'disabled-en',
      shotLang: 'en',
    },
    {
      user: 'mustchange',
      code: 'password_expired',
      en: 'Your password has expired: change it, then sign in.',
      zh: '您的密码已过期：请先修改密码，然后再登录。',
      shot: 'password-expired-zh-CN',
      shotLang: 'zh-CN',
    },
    {
      user: 'outsider',
      code: 'not_authorized',
      en: 'Your account is not authorized for Sentry. Ask for access to the Sentry group.',
      zh: '您的账号无权使用 Sentry，请申请加入 Sentry 用户组。',
      shot: 'not-authorized-en',
      shotLang: 'en',
    },
  ] as const;
  for (const c of cases) {
    test(`${c.user}: ${c.code}`, async () => {
      for (const lang of ['en', 'zh-CN'] as const) {
        const page = await newPage({ locale: lang });
        await page.goto(`${t.url}/_gateway/login`);
        await signIn(page, c.user, DEMO_PASSWORD);
        assert.equal(path(page), '/_gateway/login');
        assert.equal(await alertText(page), lang === 'en' ? c.en : c.zh);
        assert.equal(await page.getByRole('alert').getAttribute('data-code'), c.code);
        assert.equal(await page.locator('#username').inputValue(), c.user);
        assert.equal((await page.context().cookies()).some((k) => k.name === 'sag_session'), false, 'no session');
        await assertFitsWidth(page);
        if (lang === c.shotLang) await screenshot(page, c.shot);
        await page.context().close();
      }
    });
  }
});

describe('signing out', () => {
  test('the confirm page, the button, and the way back in', async () => {
    const page = await newPage({ locale: 'en' });
    await page.goto(`${t.url}/_gateway/login`);
    await signIn(page, 'bob', DEMO_PASSWORD);
    assert.equal(path(page), '/');
    assert.ok((await upstreamEcho(page)).headers['x-sentry-gateway-assertion']);

    await page.goto(`${t.url}/_gateway/logout`);
    await page.getByRole('heading', { level: 1, name: 'Sign out' }).waitFor({ state: 'visible' });
    await page.getByText('Sign out of Acme Sentry?').waitFor({ state: 'visible' });
    await page.getByRole('link', { name: 'Cancel' }).waitFor({ state: 'visible' });
    await assertFitsWidth(page);
    await screenshot(page, 'logout-confirm-en');

    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign out' }).click()]);
    await page.getByText('You have signed out.').waitFor({ state: 'visible' });
    await page.getByRole('link', { name: 'Sign in again' }).waitFor({ state: 'visible' });
    assert.equal((await page.context().cookies()).some((k) => k.name === 'sag_session'), false, 'the session cookie is gone');
    await screenshot(page, 'signed-out-en');

    await page.goto(`${t.url}/`);
    assert.equal(path(page), '/_gateway/login', 'visiting Sentry again asks for a sign-in');
    await page.getByRole('heading', { level: 1, name: 'Sign in to Acme Sentry' }).waitFor({ state: 'visible' });
  });
});
