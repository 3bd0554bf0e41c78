// The second-factor policy is judged on every request, not only at sign-in: a password-only session that the policy
// now asks a factor of (used from outside the trusted networks, its person added to a listed group) reaches nothing
// of Sentry. Real Samba AD, real Redis, real HTTP through the gateway to an echo upstream; client addresses through
// server.trustProxy (loopback) and X-Forwarded-For.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { sambaTool } from '../support/dc.js';
import { Client, startTestGateway, type TestGateway } from '../support/gateway.js';

const keyDir = mkdtempSync(join(tmpdir(), 'sag-mfa-every-'));
const keyFile = join(keyDir, 'mfa_key');
writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });

const suffix = randomBytes(3).toString('hex');
const GROUP = `MFA Every ${suffix}`;
const OFFICE = '10.1.4.2';
const AWAY = '203.0.113.7';

let outside: TestGateway;
let groups: TestGateway;
let plain: TestGateway;
let strict: TestGateway;
const users: string[] = [];

before(async () => {
  await sambaTool(['group', 'add', GROUP]);
  outside = await startTestGateway({ mfa: { require: 'outside', trustedNetworks: ['10.1.0.0/16'], methods: ['totp'], keyFile } });
  // Nobody asked by address; members of GROUP are. Revalidation every 2 minutes of the injected clock.
  groups = await startTestGateway({ mfa: { require: 'never', requireForGroups: [GROUP], methods: ['totp'], keyFile }, session: { revalidateInterval: '2m' } });
  // The same sessions (one Redis, one session secret) before and after `mfa.require: always` is switched on.
  plain = await startTestGateway({});
  strict = await startTestGateway({ mfa: { require: 'always', methods: ['totp'], keyFile }, session: { secretFile: plain.config.session.secretFile } });
});
after(async () => {
  await outside?.close();
  await groups?.close();
  await plain?.close();
  await strict?.close();
  for (const u of users) await sambaTool(['user', 'delete', u]).catch(() => undefined);
  await sambaTool(['group', 'delete', GROUP]).catch(() => undefined);
});

async function person(name: string): Promise<void> {
  users.push(name);
  await sambaTool(['user', 'create', name, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${name}@corp.example.com`]);
  await sambaTool(['group', 'addmembers', 'Sentry Users', name]);
}

async function signIn(gw: TestGateway, name: string, from: string): Promise<Client> {
  const c = new Client(gw.url);
  const res = await c.submitForm('/_gateway/login', '/_gateway/login', { username: name, password: DEMO_PASSWORD }, { 'x-forwarded-for': from });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/', 'signed in with the password alone');
  return c;
}

function openSocket(gw: TestGateway, c: Client, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/api/0/live/`, { origin: gw.config.server.publicUrl, headers: { Cookie: c.cookieHeader(), 'X-Forwarded-For': from } });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', reject);
  });
}

async function assertReachesSentry(gw: TestGateway, c: Client, from: string): Promise<void> {
  const res = await c.get('/organizations/acme/issues/', { accept: 'application/json', 'x-forwarded-for': from });
  assert.equal(res.status, 200, 'the upstream answers');
  const headers = ((await res.json()) as { headers: Record<string, string> }).headers;
  assert.ok(headers['x-sentry-gateway-assertion'], 'with an assertion');
}

/** What a password-only session gets when a factor is owed: the step for a page load, 401 otherwise, and Sentry sees nothing. */
async function assertAskedForFactor(gw: TestGateway, c: Client, from: string): Promise<void> {
  gw.upstream.lastRequest = undefined;
  const upgrades = gw.upstream.upgrades;
  const xff = { 'x-forwarded-for': from };
  const page = await c.get('/organizations/acme/issues/?query=is%3Aunresolved', xff);
  assert.equal(page.status, 302);
  assert.equal(page.headers.get('location'), `/_gateway/mfa?next=${encodeURIComponent('/organizations/acme/issues/?query=is%3Aunresolved')}`, 'a page load goes to the second-factor step');
  const api = await c.get('/api/0/organizations/', { accept: 'application/json', ...xff });
  assert.equal(api.status, 401);
  assert.equal(((await api.json()) as { error: string }).error, 'authentication_required');
  const post = await c.request('/api/0/organizations/acme/projects/', { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json', ...xff }, body: '{}' });
  assert.equal(post.status, 401);
  assert.equal(await openSocket(gw, c, from), 401, 'a WebSocket upgrade is refused');
  assert.equal((await c.get('/_gateway/me', { accept: 'application/json', ...xff })).status, 401, '/_gateway/me does not count it as signed in');
  const account = await c.get('/_gateway/account', xff);
  assert.equal(account.status, 303);
  assert.match(account.headers.get('location') ?? '', /^\/_gateway\/mfa\?next=/, 'the account page asks for the factor too');
  assert.equal(gw.upstream.lastRequest, undefined, 'the upstream saw no request and no assertion');
  assert.equal(gw.upstream.upgrades, upgrades, 'no WebSocket reached the upstream');
}

describe('mfa.require: outside, judged per request', () => {
  test('a cookie minted on the trusted network is asked for a factor when used from outside', async () => {
    const name = `mfa-ev-o-${suffix}`;
    await person(name);
    const c = await signIn(outside, name, OFFICE);
    await assertReachesSentry(outside, c, OFFICE);
    await assertAskedForFactor(outside, c, AWAY);
    // No X-Forwarded-For at all: the loopback peer itself is outside the trusted network as well.
    const bare = await c.get('/api/0/organizations/', { accept: 'application/json' });
    assert.equal(bare.status, 401);
    // The session is not spent: back on the trusted network it works again.
    await assertReachesSentry(outside, c, OFFICE);
  });
});

describe('mfa.requireForGroups, judged per request', () => {
  test('a person added to a listed group in AD is asked for a factor after the next revalidation', async () => {
    const name = `mfa-ev-g-${suffix}`;
    await person(name);
    const c = await signIn(groups, name, OFFICE);
    await assertReachesSentry(groups, c, OFFICE);

    await sambaTool(['group', 'addmembers', GROUP, name]);
    groups.clock.advance(2 * 60_000 + 1000);
    await assertAskedForFactor(groups, c, OFFICE);
  });

  test('a person in no listed group keeps the password-only session across revalidation', async () => {
    const name = `mfa-ev-n-${suffix}`;
    await person(name);
    const c = await signIn(groups, name, AWAY);
    groups.clock.advance(2 * 60_000 + 1000);
    await assertReachesSentry(groups, c, AWAY);
    assert.equal(await openSocket(groups, c, AWAY), 101, 'a WebSocket opens');
  });
});

describe('a session from before the policy was switched on', () => {
  test('a password-only session made while nothing was asked is asked for a factor once mfa.require is always', async () => {
    const name = `mfa-ev-b-${suffix}`;
    await person(name);
    const before_ = await signIn(plain, name, OFFICE);
    await assertReachesSentry(plain, before_, OFFICE);
    const after_ = new Client(strict.url);
    for (const [k, v] of before_.cookies) after_.cookies.set(k, v);
    await assertAskedForFactor(strict, after_, OFFICE);
  });
});
