// Shared by the console suites: a gateway wired to its own fake Sentry organization, and form helpers.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuleSet } from '../../src/mapping/ruleStore.js';
import { startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { Client, decodeHtml, startTestGateway, type TestGateway } from './gateway.js';

export const ADMIN_TOKEN = 'sntryu_console_token_for_tests';

export interface ConsoleSetup {
  t: TestGateway;
  fake: FakeSentry;
  /** The rules as they were before the suite: put back by `close`, so later suites see the fixtures' rules. */
  saved: RuleSet;
  close(): Promise<void>;
}

/** Its own Sentry organization, so the members other suites provisioned are not this suite's business. */
export async function startConsole(organization: string, overrides: Record<string, unknown> = {}): Promise<ConsoleSetup> {
  const fake = await startFakeSentry({ organization, token: ADMIN_TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
  const tokenFile = join(tmpdir(), `sag-console-token-${organization}-${process.pid}`);
  writeFileSync(tokenFile, ADMIN_TOKEN + '\n', { mode: 0o600 });
  fake.addTeam('backend');
  let t: TestGateway | undefined;
  let saved: RuleSet;
  try {
    t = await startTestGateway({ sentry: { url: fake.url, organization, tokenFile, provisionOnLogin: false, sync: { interval: '0' } }, ...overrides });
    saved = await t.gw.deps.rules.current();
  } catch (e) {
    // A half-started setup must not keep the test process alive after its `before` failed.
    await t?.close();
    await fake.close();
    throw e;
  }
  const gateway = t;
  return {
    t: gateway,
    fake,
    saved,
    async close() {
      const now = await gateway.gw.deps.rules.current();
      if (now.version !== saved.version) await gateway.gw.deps.rules.save({ defaultOrgRole: saved.defaultOrgRole, rules: saved.rules }, 'test cleanup', now.version);
      await gateway.close();
      await fake.close();
    },
  };
}

export function csrfOf(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return decodeHtml(token);
}

/** Posts a form the way a browser would, repeated fields included. */
export function post(c: Client, path: string, fields: [string, string][] | Record<string, string>): Promise<Response> {
  const body = new URLSearchParams(Array.isArray(fields) ? fields : Object.entries(fields));
  return c.request(path, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

/** Signs in and returns the client holding the session. */
export async function signedIn(base: string, username: string, password: string): Promise<Client> {
  const c = new Client(base);
  const res = await c.login(username, password);
  if (res.status !== 303) throw new Error(`sign-in as ${username} answered ${res.status}`);
  return c;
}

export function textOf(html: string): string {
  return decodeHtml(html.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ');
}
