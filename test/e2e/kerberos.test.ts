// The Kerberos sign-in page in a real browser: the 401 + Negotiate answer shows the sign-in form in Chromium.
//
// Not covered yet: Chromium answering Negotiate with a ticket. This machine's Chromium (Debian 156, headless under
// playwright-core) refuses the scheme before loading GSSAPI (net log: AUTH_HANDLER_CREATE_RESULT -339,
// ERR_UNSUPPORTED_AUTH_SCHEME), with a persistent profile and --auth-server-allowlist alike; the sign-in itself is
// covered with real curl --negotiate in test/integration/kerberos.test.ts.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM_PATH, screenshot, startTogether } from '../support/browser.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { kerberosFixture, SERVICE_HOST, type KerberosClientEnv, type KerberosFixture } from '../support/kerberos.js';

let krb: KerberosFixture;
let t: TestGateway;
let base: string;
const contexts: BrowserContext[] = [];

/**
 * Headless Chromium in the client environment `env` (its ticket cache, or none), allowed to use Negotiate for the
 * gateway's host only. A persistent profile (a temp dir), not a fresh context: Chromium never answers Negotiate
 * in an off-the-record profile, which is what a new context is.
 */
async function pageWithTicket(env: KerberosClientEnv): Promise<Page> {
  const profile = mkdtempSync(join(tmpdir(), 'sag-krb-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    env: { ...process.env, ...env } as Record<string, string>,
    locale: 'en',
    extraHTTPHeaders: { 'Accept-Language': 'en' },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The SPN is HTTP/<the host in the URL>: resolve it to loopback by rule, take it as written.
      `--host-resolver-rules=MAP ${SERVICE_HOST} 127.0.0.1`,
      '--disable-auth-negotiate-cname-lookup',
      `--auth-server-allowlist=${SERVICE_HOST}`,
    ],
  });
  contexts.push(context);
  context.setDefaultTimeout(5_000);
  context.setDefaultNavigationTimeout(10_000);
  return context.pages()[0] ?? (await context.newPage());
}

before(async () => {
  krb = await kerberosFixture();
  const keytab = join(mkdtempSync(join(tmpdir(), 'sag-krb-e2e-')), 'http.keytab');
  copyFileSync(krb.service.keytabFile, keytab);
  [t] = await startTogether<[TestGateway]>([
    startTestGateway({ auth: { kerberos: { enabled: true, keytabFile: keytab, servicePrincipal: `HTTP/${SERVICE_HOST}`, realms: { 'CORP.EXAMPLE.COM': 'CORP' } } } }, { publicHost: SERVICE_HOST }),
  ]);
  base = t.config.server.publicUrl;
});
after(async () => {
  await Promise.allSettled(contexts.map((c) => c.close()));
  await t?.close();
  await krb?.close();
});

describe('Chromium at the Kerberos sign-in page', () => {
  test('without a ticket the 401 Negotiate answer is the sign-in form, and a password signs in', async () => {
    const page = await pageWithTicket(krb.env);
    const res = await page.goto(`${base}/_gateway/login`);
    assert.equal(res?.status(), 401);
    await assertVisible(page, '#password');
    await screenshot(page, 'kerberos-no-ticket');
    await page.locator('#username').fill('alice');
    await page.locator('#password').fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/');
    const echo = JSON.parse((await page.locator('pre').first().textContent()) ?? '{}') as { headers: Record<string, string> };
    const claims = JSON.parse(Buffer.from(echo.headers['x-sentry-gateway-assertion']!.split('.')[1]!, 'base64url').toString()) as { amr: string[] };
    assert.deepEqual(claims.amr, ['pwd']);
  });
});

async function assertVisible(page: Page, selector: string): Promise<void> {
  assert.ok(await page.locator(selector).isVisible(), `${selector} is visible`);
}
