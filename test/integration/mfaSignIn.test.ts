// The second factor at sign-in end to end: real Samba AD, real Redis, real HTTP through the gateway to an echo upstream.
// TOTP codes come from otplib at the gateway's injected clock.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { generate } from 'otplib';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { CSRF_COOKIE, csrfTokenFor } from '../../src/auth/csrf.js';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { badPasswords, sambaTool } from '../support/dc.js';
import { alertOf, Client, decodeHtml, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const keyDir = mkdtempSync(join(tmpdir(), 'sag-mfa-key-'));
const keyFile = join(keyDir, 'mfa_key');
writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });

let t: TestGateway;
let outside: TestGateway;
const guids: string[] = [];

before(async () => {
  // Everyone must pass a factor; a first one may be enrolled without a link only from 10.9.0.0/16 (not this test's address).
  // TOTP only: WebAuthn needs a host name in server.publicUrl (test/e2e/mfaWebauthn.test.ts runs it on localhost).
  t = await startTestGateway({ mfa: { require: 'always', enrolFrom: ['10.9.0.0/16'], methods: ['totp'], keyFile } });
  // Asked only from outside 10.1.0.0/16, judged on X-Forwarded-For from the trusted loopback peer (server.trustProxy).
  outside = await startTestGateway({ mfa: { require: 'outside', trustedNetworks: ['10.1.0.0/16'], methods: ['totp'], keyFile } });
});
after(async () => {
  for (const g of guids) await t?.gw.deps.mfa?.store.reset(g).catch(() => undefined);
  await t?.close();
  await outside?.close();
});

async function person(name: string): Promise<void> {
  await sambaTool(['user', 'create', name, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${name}@corp.example.com`]);
  await sambaTool(['group', 'addmembers', 'Sentry Users', name]);
}

/** The objectGUID behind a client's session, read the way the gateway reads it. */
async function guidOf(gw: TestGateway, c: Client): Promise<string> {
  // A request from loopback, as the client's own are: the policy is judged on each request's address.
  const found = await gw.gw.deps.resolver.lookup({ headers: { cookie: c.cookieHeader() }, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage);
  assert.ok(found.status === 'ok' || found.status === 'pending', `a session: ${found.status}`);
  guids.push(found.identity.sub);
  return found.identity.sub;
}

const codeAt = (secret: string, ms: number) => generate({ secret, epoch: Math.floor(ms / 1000) });

/** Enrols an authenticator app for the person straight in the store; the clock moves past the confirming step. */
async function enrolTotp(gw: TestGateway, guid: string): Promise<string> {
  const mfa = gw.gw.deps.mfa!;
  const { secret } = await mfa.totp.begin(guid, 'someone');
  await mfa.totp.confirm(guid, await codeAt(secret, gw.clock.now()), 'Phone');
  gw.clock.advance(30_000);
  return secret;
}

async function assertionOf(gw: TestGateway, c: Client, headers: Record<string, string> = {}): Promise<JWTPayload> {
  const res = await c.get('/organizations/acme/issues/', { accept: 'application/json', ...headers });
  assert.equal(res.status, 200, 'the upstream answers a signed-in browser');
  const token = ((await res.json()) as { headers: Record<string, string> }).headers['x-sentry-gateway-assertion']!;
  const jwks = (await (await c.get('/_gateway/jwks.json', { accept: 'application/json' })).json()) as { keys: [] };
  return (await jwtVerify(token, createLocalJWKSet(jwks), { issuer: gw.config.server.publicUrl, audience: 'sentry', currentDate: new Date(gw.clock.now()) })).payload;
}

function copyOf(c: Client): Client {
  const copy = new Client(c.base);
  for (const [k, v] of c.cookies) copy.cookies.set(k, v);
  return copy;
}

function openSocket(gw: TestGateway, c: Client): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/api/0/live/`, { origin: gw.config.server.publicUrl, headers: { Cookie: c.cookieHeader() } });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', reject);
  });
}

/** Nothing a password-only session does reaches Sentry: page loads, API calls, WebSockets; the gateway's own pages refuse it too. */
async function assertNothingReachesSentry(gw: TestGateway, c: Client): Promise<void> {
  gw.upstream.lastRequest = undefined;
  const upgrades = gw.upstream.upgrades;
  const page = await c.get('/organizations/acme/issues/?query=is%3Aunresolved');
  assert.equal(page.status, 302);
  assert.equal(page.headers.get('location'), `/_gateway/mfa?next=${encodeURIComponent('/organizations/acme/issues/?query=is%3Aunresolved')}`, 'a page load goes to the second-factor step');
  const api = await c.request('/api/0/organizations/acme/projects/', { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: '{}' });
  assert.equal(api.status, 401);
  assert.equal(((await api.json()) as { error: string }).error, 'authentication_required');
  assert.equal((await c.get('/api/0/organizations/', { accept: 'application/json' })).status, 401);
  assert.equal(await openSocket(gw, c), 401, 'a WebSocket upgrade is refused');
  assert.equal((await c.get('/_gateway/me', { accept: 'application/json' })).status, 401, '/_gateway/me does not count it as signed in');
  const console_ = await c.get('/_gateway/admin/');
  assert.notEqual(console_.status, 200, 'nor does the console');
  assert.equal(gw.upstream.lastRequest, undefined, 'the upstream saw no request and no assertion');
  assert.equal(gw.upstream.upgrades, upgrades, 'no WebSocket reached the upstream');
}

/**
 * Every change Redis makes to the second-factor keys, in the order Redis made them (keyspace notifications), so a
 * test sees a factor that existed only for a moment. `sync()` returns once every change made so far has arrived.
 */
async function watchMfaKeys(): Promise<{ events: string[]; sync(): Promise<void>; stop(): Promise<void> }> {
  const admin = new Redis(testRedisUrl());
  const sub = new Redis(testRedisUrl());
  const before = ((await admin.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';
  await admin.config('SET', 'notify-keyspace-events', 'KA');
  const events: string[] = [];
  sub.on('pmessage', (_p: string, channel: string, event: string) => events.push(`${event} ${channel.replace(/^__keyspace@\d+__:/, '')}`));
  await sub.psubscribe('__keyspace@*__:sag:mfa:*');
  return {
    events,
    // A reply on the subscriber's connection comes after every notification already sent on it.
    sync: async () => void (await sub.ping()),
    stop: async () => {
      await admin.config('SET', 'notify-keyspace-events', before);
      sub.disconnect();
      admin.disconnect();
    },
  };
}

async function submitCode(c: Client, field: 'code' | 'recovery', value: string, next = '/'): Promise<Response> {
  return c.submitForm(`/_gateway/mfa?next=${encodeURIComponent(next)}`, '/_gateway/mfa', { [field]: value });
}

describe('sign-in with a second factor', () => {
  test('the password alone gives a session that reaches nothing; a TOTP code then signs in once, on a new session id, with amr mfa', async () => {
    await person('mfa-totp');
    const c = new Client(t.url);
    const login = await c.login('mfa-totp', DEMO_PASSWORD, '/organizations/acme/issues/');
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), `/_gateway/mfa?next=${encodeURIComponent('/organizations/acme/issues/')}`);
    const guid = await guidOf(t, c);
    const secret = await enrolTotp(t, guid);
    await assertNothingReachesSentry(t, c);
    const pending = copyOf(c);

    const page = await c.get('/_gateway/mfa?next=%2Forganizations%2Facme%2Fissues%2F');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Code from your authenticator app/);
    const code = await codeAt(secret, t.clock.now());
    const ok = await submitCode(c, 'code', code, '/organizations/acme/issues/');
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/organizations/acme/issues/');
    assert.notEqual(c.cookies.get('sag_session'), pending.cookies.get('sag_session'), 'a new session id after the factor');
    const claims = await assertionOf(t, c);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(typeof claims.mfa_time, 'number');
    assert.equal((await pending.get('/_gateway/mfa')).status, 303, 'the password-only session is gone');
    assert.match((await pending.get('/_gateway/mfa')).headers.get('location') ?? '', /^\/_gateway\/login/);

    // The same code again, in a new sign-in: refused with a clear message, and that session still reaches nothing.
    const again = new Client(t.url);
    assert.equal((await again.login('mfa-totp', DEMO_PASSWORD)).status, 303);
    const replay = await submitCode(again, 'code', code);
    assert.equal(replay.status, 401);
    assert.match(alertOf(await replay.text()) ?? '', /That code is not valid/);
    await assertNothingReachesSentry(t, again);
  });

  test('a recovery code signs in once; wrong codes are throttled with Retry-After, never counted against AD', async () => {
    await person('mfa-recover');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-recover', DEMO_PASSWORD)).status, 303);
    const guid = await guidOf(t, c);
    await enrolTotp(t, guid);
    const [code] = await t.gw.deps.mfa!.store.regenerateRecoveryCodes(guid);
    const res = await submitCode(c, 'recovery', code!.toUpperCase());
    assert.equal(res.status, 303);
    assert.deepEqual((await assertionOf(t, c)).amr, ['pwd', 'otp', 'mfa']);

    const again = new Client(t.url);
    assert.equal((await again.login('mfa-recover', DEMO_PASSWORD)).status, 303);
    const reused = await submitCode(again, 'recovery', code!);
    assert.equal(reused.status, 401, 'a recovery code works once');
    let last: Response = reused;
    for (let i = 0; i < 6 && last.status !== 429; i++) last = await submitCode(again, 'code', '000000');
    assert.equal(last.status, 429);
    assert.ok(Number(last.headers.get('retry-after')) > 0);
    assert.match(alertOf(await last.text()) ?? '', /Try again in \d+ seconds/);
    assert.equal((await badPasswords('mfa-recover')).count, 0, 'AD counted no bad password');
    const zh = await again.get('/_gateway/mfa?lang=zh-CN');
    assert.equal(zh.status, 200);
    const wrongZh = await again.submitForm('/_gateway/mfa?lang=zh-CN', '/_gateway/mfa?lang=zh-CN', { code: '000000' }, { 'accept-language': 'zh-CN' });
    assert.equal(wrongZh.status, 429);
    assert.match(alertOf(await wrongZh.text()) ?? '', /请在 \d+ 秒后重试/, 'the same answer in Chinese');
  });

  test('the password-only state ends after a few minutes', async () => {
    await person('mfa-late');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-late', DEMO_PASSWORD)).status, 303);
    await enrolTotp(t, await guidOf(t, c));
    t.clock.advance(11 * 60_000);
    const res = await c.get('/_gateway/mfa');
    assert.equal(res.status, 303);
    assert.match(res.headers.get('location') ?? '', /^\/_gateway\/login/);
  });
});

describe('adding a further factor', () => {
  test('needs a factor passed in the last 10 minutes; a password-only session is sent to the step first', async () => {
    await person('mfa-more');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-more', DEMO_PASSWORD)).status, 303);
    const secret = await enrolTotp(t, await guidOf(t, c));
    const early = await c.get('/_gateway/mfa/enrol?next=%2F_gateway%2Faccount');
    assert.equal(early.status, 303);
    assert.equal(early.headers.get('location'), `/_gateway/mfa?next=${encodeURIComponent('/_gateway/mfa/enrol?next=%2F_gateway%2Faccount')}`);
    assert.equal((await submitCode(c, 'code', await codeAt(secret, t.clock.now()))).status, 303);
    const fresh = await c.get('/_gateway/mfa/enrol?next=%2F_gateway%2Faccount');
    assert.equal(fresh.status, 200);
    assert.match(await fresh.text(), /Add another security key, passkey or authenticator app/);
    t.clock.advance(11 * 60_000);
    const stale = await c.get('/_gateway/mfa/enrol?next=%2F_gateway%2Faccount');
    assert.equal(stale.status, 303, 'a factor passed 11 minutes ago is not current');
    assert.match(stale.headers.get('location') ?? '', /^\/_gateway\/mfa\?next=/);
    const step = await c.get(stale.headers.get('location')!);
    assert.equal(step.status, 200, 'the step asks again, although the session is signed in');
    assert.equal((await submitCode(c, 'code', await codeAt(secret, t.clock.now()), '/_gateway/mfa/enrol?next=%2F_gateway%2Faccount')).status, 303);
    assert.equal((await c.get('/_gateway/mfa/enrol?next=%2F_gateway%2Faccount')).status, 200);
  });
});

describe('mfa.require: outside', () => {
  test('asked from an outside address, not from a trusted one (X-Forwarded-For from the trusted loopback peer)', async () => {
    await person('mfa-outside');
    const fromAway = await new Client(outside.url).submitForm('/_gateway/login', '/_gateway/login', { username: 'mfa-outside', password: DEMO_PASSWORD }, { 'x-forwarded-for': '203.0.113.7' });
    assert.equal(fromAway.status, 303);
    assert.equal(fromAway.headers.get('location'), '/_gateway/mfa?next=%2F', 'from outside: the second-factor step');

    const office = new Client(outside.url);
    const fromOffice = await office.submitForm('/_gateway/login', '/_gateway/login', { username: 'mfa-outside', password: DEMO_PASSWORD }, { 'x-forwarded-for': '10.1.4.2' });
    assert.equal(fromOffice.status, 303);
    assert.equal(fromOffice.headers.get('location'), '/', 'from a trusted network: signed in with the password');
    // Judged on every request: used from the trusted network, the password-only session reaches Sentry.
    assert.deepEqual((await assertionOf(outside, office, { 'x-forwarded-for': '10.1.4.2' })).amr, ['pwd']);
  });
});

describe('a signed-in session the policy now asks a factor of, with none enrolled', () => {
  test('/_gateway/account does not loop: the redirects end on the enrolment page, which says how to get a link', async () => {
    await person('mfa-noloop');
    const c = new Client(outside.url);
    const office = { 'x-forwarded-for': '10.1.4.2' };
    const away = { 'x-forwarded-for': '203.0.113.7' };
    const login = await c.submitForm('/_gateway/login', '/_gateway/login', { username: 'mfa-noloop', password: DEMO_PASSWORD }, office);
    assert.equal(login.headers.get('location'), '/', 'signed in with the password from the trusted network');
    guids.push(await guidOf(outside, c));
    const seen: string[] = [];
    let res = await c.get('/_gateway/account', away);
    for (let hops = 0; res.status === 303 && hops < 10; hops++) {
      const to = res.headers.get('location')!;
      seen.push(to);
      res = await c.get(to, away);
    }
    assert.notEqual(res.status, 303, `no end to the redirects: ${seen.join(' → ')}`);
    assert.equal(seen.at(-1), '/_gateway/mfa/enrol?next=%2F_gateway%2Faccount', seen.join(' → '));
    assert.equal(res.status, 403, 'from outside without a link: enrolment is explained, not offered');
    assert.match(await res.text(), /one-time enrolment link/);
  });
});

describe('the account page from a trusted network', () => {
  test('removing a factor asks for the second factor again (not re-authentication), and then removes it', async () => {
    await person('mfa-trusted-remove');
    const office = { 'x-forwarded-for': '10.1.4.2' };
    const c = new Client(outside.url);
    const login = await c.submitForm('/_gateway/login', '/_gateway/login', { username: 'mfa-trusted-remove', password: DEMO_PASSWORD }, office);
    assert.equal(login.headers.get('location'), '/', 'the trusted network asks only the password');
    const guid = await guidOf(outside, c);
    const secret = await enrolTotp(outside, guid);
    await enrolTotp(outside, guid);
    const [first, second] = await outside.gw.deps.mfa!.store.list(guid);
    const remove = async () => {
      const page = await c.get('/_gateway/account', office);
      assert.equal(page.status, 200);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
      return c.request('/_gateway/account', { method: 'POST', body: new URLSearchParams({ _csrf: csrf, action: 'remove', factor: second!.id }), headers: { 'content-type': 'application/x-www-form-urlencoded', ...office } });
    };
    const asked = await remove();
    assert.equal(asked.status, 303);
    assert.equal(asked.headers.get('location'), '/_gateway/mfa?next=%2F_gateway%2Faccount', 'to the second-factor step');
    const step = await c.get(asked.headers.get('location')!, office);
    assert.equal(step.status, 200, 'the step asks although the session is signed in');
    assert.match(await step.text(), /Code from your authenticator app/);
    const passed = await c.submitForm('/_gateway/mfa?next=%2F_gateway%2Faccount', '/_gateway/mfa', { code: await codeAt(secret, outside.clock.now()) }, office);
    assert.equal(passed.status, 303);
    assert.equal(passed.headers.get('location'), '/_gateway/account');
    const removed = await remove();
    assert.equal(removed.status, 303);
    assert.equal(removed.headers.get('location'), '/_gateway/account?done=removed');
    assert.deepEqual((await outside.gw.deps.mfa!.store.list(guid)).map((f) => f.id), [first!.id], 'the factor is gone, the other kept');
  });
});

describe('re-authentication with a factor enrolled', () => {
  test('the password alone makes no usable session; the factor then gives a new session with a fresh mfa_time', async () => {
    await person('mfa-reauth');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-reauth', DEMO_PASSWORD)).status, 303);
    const secret = await enrolTotp(t, await guidOf(t, c));
    assert.equal((await submitCode(c, 'code', await codeAt(secret, t.clock.now()))).status, 303);
    const first = await assertionOf(t, c);
    t.clock.advance(60_000);

    const next = '/settings/account/api/auth-tokens/';
    const res = await c.submitForm(`/_gateway/reauth?next=${encodeURIComponent(next)}`, '/_gateway/reauth', { password: DEMO_PASSWORD });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), `/_gateway/mfa?next=${encodeURIComponent(next)}`);
    await assertNothingReachesSentry(t, c);

    assert.equal((await submitCode(c, 'code', await codeAt(secret, t.clock.now()), next)).status, 303);
    const claims = await assertionOf(t, c);
    assert.notEqual(claims.sid, first.sid);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.ok(Number(claims.mfa_time) >= Number(first.mfa_time) + 60, 'mfa_time moved');
    assert.ok(Number(claims.auth_time) >= Number(first.auth_time) + 60, 'auth_time moved');
  });
});

describe('enrolment at sign-in', () => {
  test('from an untrusted network without a link: refused, saying how to get one', async () => {
    await person('mfa-nolink');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-nolink', DEMO_PASSWORD)).status, 303);
    guids.push(await guidOf(t, c));
    const step = await c.get('/_gateway/mfa');
    assert.equal(step.status, 303);
    assert.equal(step.headers.get('location'), '/_gateway/mfa/enrol');
    const page = await c.get('/_gateway/mfa/enrol');
    assert.equal(page.status, 403);
    const html = await page.text();
    assert.match(html, /one-time enrolment link/);
    assert.match(html, /mfa enrol-link/);
    assert.doesNotMatch(html, /totp-secret/, 'no secret is offered');
    const post = await c.request('/_gateway/mfa/enrol/webauthn/options', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ _csrf: /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '' }) });
    assert.notEqual(post.status, 200, 'no registration options either');
  });

  test('with an admin’s link: the token leaves the URL, a TOTP app is enrolled with recovery codes shown once, and the link works once', async () => {
    await person('mfa-link');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-link', DEMO_PASSWORD)).status, 303);
    const guid = await guidOf(t, c);
    const link = await t.gw.deps.mfa!.links.issue(guid, { username: 'mfa-link', actor: 'test' });
    const u = new URL(link.url);
    const taken = await c.get(`${u.pathname}${u.search}`);
    assert.equal(taken.status, 303);
    assert.equal(taken.headers.get('location'), '/_gateway/mfa/enrol', 'a link-free URL once the token is in the session');

    const page = await c.get('/_gateway/mfa/enrol');
    assert.equal(page.status, 200);
    const html = await page.text();
    const secret = decodeHtml(/id="totp-secret">([^<]+)</.exec(html)?.[1] ?? '').replace(/\s+/g, '');
    assert.match(secret, /^[A-Z2-7]{16,}$/);
    const token = /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
    const done = await c.request('/_gateway/mfa/enrol/totp', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token, next: '/', name: 'Phone', code: await codeAt(secret, t.clock.now()) }),
    });
    assert.equal(done.status, 200);
    const codes = [...(await done.text()).matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]);
    assert.equal(codes.length, 10, 'ten recovery codes, shown once');
    assert.deepEqual((await assertionOf(t, c)).amr, ['pwd', 'otp', 'mfa'], 'enrolling proved the factor: signed in with it');
    assert.equal((await t.gw.deps.mfa!.store.list(guid)).length, 1);
    assert.ok(t.logs.every((l) => !l.includes(u.searchParams.get('link')!)), 'the token is in no log line');

    // The same link again, even after the factor is gone (an admin reset): spent, so it gives no right to enrol.
    await t.gw.deps.mfa!.store.reset(guid);
    const other = new Client(t.url);
    assert.equal((await other.login('mfa-link', DEMO_PASSWORD)).status, 303);
    assert.equal((await other.get(`${u.pathname}${u.search}`)).status, 303);
    const refused = await other.get('/_gateway/mfa/enrol');
    assert.equal(refused.status, 403, 'a spent link offers no enrolment');
    const html2 = await refused.text();
    assert.match(html2, /one-time enrolment link/, 'the page says how to get a new one');
    assert.doesNotMatch(html2, /totp-secret/);
    assert.equal((await t.gw.deps.mfa!.store.list(guid)).length, 0);
    await assertNothingReachesSentry(t, other);
  });

  test('the link is spent before the factor is written: the factor never exists for an unspent link', async () => {
    await person('mfa-order');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-order', DEMO_PASSWORD)).status, 303);
    const guid = await guidOf(t, c);
    const u = new URL((await t.gw.deps.mfa!.links.issue(guid, { username: 'mfa-order', actor: 'test' })).url);
    assert.equal((await c.get(`${u.pathname}${u.search}`)).status, 303);
    const html = await (await c.get('/_gateway/mfa/enrol')).text();
    const secret = decodeHtml(/id="totp-secret">([^<]+)</.exec(html)?.[1] ?? '').replace(/\s+/g, '');
    const watch = await watchMfaKeys();
    try {
      const done = await c.request('/_gateway/mfa/enrol/totp', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: /name="_csrf" value="([^"]+)"/.exec(html)![1]!, next: '/', name: 'Phone', code: await codeAt(secret, t.clock.now()) }),
      });
      assert.equal(done.status, 200);
      await watch.sync();
    } finally {
      await watch.stop();
    }
    const spent = watch.events.findIndex((e) => e === `del sag:mfa:{${guid}}:link`);
    const written = watch.events.findIndex((e) => e.startsWith('hset ') && e.endsWith(`{${guid}}:factors`));
    assert.ok(spent >= 0 && written >= 0, watch.events.join('\n'));
    assert.ok(spent < written, `the link is spent first, then the factor written:\n${watch.events.join('\n')}`);
    assert.equal((await t.gw.deps.mfa!.store.list(guid)).length, 1);
  });

  test('a made-up link gives no right to enrol, and no factor is ever stored for it, not even for a moment', async () => {
    await person('mfa-forged');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-forged', DEMO_PASSWORD)).status, 303);
    const guid = await guidOf(t, c);
    // The form token a page of this session would carry (no page offers one to this person: the token is made as the gateway makes it).
    const sid = decodeURIComponent(c.cookies.get('sag_session')!).slice(2).split('.')[0]!;
    const csrf = csrfTokenFor(c.cookies.get(CSRF_COOKIE)!, t.gw.deps.sessionSecrets[0]!, sid);
    const forged = randomBytes(32).toString('base64url');
    assert.equal((await c.get(`/_gateway/mfa/enrol?link=${forged}`)).status, 303);
    const page = await c.get('/_gateway/mfa/enrol');
    assert.equal(page.status, 403, 'no enrolment offered on a link nobody issued');
    const html = await page.text();
    assert.match(html, /one-time enrolment link/);
    assert.match(html, /mfa enrol-link/, 'the page says how to get a real link');
    assert.doesNotMatch(html, /totp-secret/, 'no secret is offered');

    // A seed waiting for this person (as an earlier page could have offered) and the right code for it: still nothing is stored.
    const { secret } = await t.gw.deps.mfa!.totp.begin(guid, 'mfa-forged');
    const watch = await watchMfaKeys();
    try {
      const res = await c.request('/_gateway/mfa/enrol/totp', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, next: '/', name: 'Attacker', code: await codeAt(secret, t.clock.now()) }),
      });
      assert.notEqual(res.status, 200, 'the enrolment is refused');
      const opts = await c.request('/_gateway/mfa/enrol/webauthn/options', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ _csrf: csrf }) });
      assert.notEqual(opts.status, 200, 'no registration options either');
      await watch.sync();
    } finally {
      await watch.stop();
    }
    assert.deepEqual(
      watch.events.filter((e) => e.endsWith(`{${guid}}:factors`)),
      [],
      'the factor list of this person was never written, not even for a moment',
    );
    assert.deepEqual(await t.gw.deps.mfa!.store.list(guid), []);
    await assertNothingReachesSentry(t, c);
  });

  test('a name with a tab is refused before anything is spent: the same seed, code and link then enrol with a good name', async () => {
    await person('mfa-name');
    const c = new Client(t.url);
    assert.equal((await c.login('mfa-name', DEMO_PASSWORD)).status, 303);
    const guid = await guidOf(t, c);
    const u = new URL((await t.gw.deps.mfa!.links.issue(guid, { username: 'mfa-name', actor: 'test' })).url);
    assert.equal((await c.get(`${u.pathname}${u.search}`)).status, 303);
    const html = await (await c.get('/_gateway/mfa/enrol')).text();
    const secretOf = (h: string) => decodeHtml(/id="totp-secret">([^<]+)</.exec(h)?.[1] ?? '').replace(/\s+/g, '');
    const secret = secretOf(html);
    const code = await codeAt(secret, t.clock.now());
    const send = (token: string, name: string, lang = 'en') =>
      c.request('/_gateway/mfa/enrol/totp', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': lang },
        body: new URLSearchParams({ _csrf: token, next: '/', name, code }),
      });
    const bad = await send(/name="_csrf" value="([^"]+)"/.exec(html)![1]!, 'My\tphone');
    assert.equal(bad.status, 400);
    const badHtml = await bad.text();
    assert.match(alertOf(badHtml) ?? '', /1 to 64 printable characters/);
    assert.equal(secretOf(badHtml), secret, 'the page shows the same seed again');
    assert.deepEqual(await t.gw.deps.mfa!.store.list(guid), [], 'nothing stored');
    const zh = await send(/name="_csrf" value="([^"]+)"/.exec(badHtml)![1]!, 'a\nb', 'zh-CN');
    assert.equal(zh.status, 400);
    assert.match(alertOf(await zh.text()) ?? '', /1 到 64 个可打印字符/);

    const good = await send(/name="_csrf" value="([^"]+)"/.exec(badHtml)![1]!, 'My phone');
    assert.equal(good.status, 200, 'the seed, the code and the link were all still there');
    assert.deepEqual((await t.gw.deps.mfa!.store.list(guid)).map((f) => f.name), ['My phone']);
  });

  test('a link that arrives before sign-in waits in a cookie, not the URL', async () => {
    await person('mfa-early');
    const probe = new Client(t.url);
    assert.equal((await probe.login('mfa-early', DEMO_PASSWORD)).status, 303);
    const guid = await guidOf(t, probe);
    const link = await t.gw.deps.mfa!.links.issue(guid, { username: 'mfa-early', actor: 'test' });
    const u = new URL(link.url);
    const c = new Client(t.url);
    const first = await c.get(`${u.pathname}${u.search}`);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), `/_gateway/login?next=${encodeURIComponent('/_gateway/mfa/enrol')}`);
    const signedIn = await c.login('mfa-early', DEMO_PASSWORD, '/_gateway/mfa/enrol');
    assert.equal(signedIn.status, 303);
    const step = await c.get(signedIn.headers.get('location')!);
    assert.equal(step.headers.get('location'), '/_gateway/mfa/enrol', 'nothing to check yet: straight to enrolment');
    const moved = await c.get('/_gateway/mfa/enrol');
    assert.equal(moved.status, 303, 'the cookie moves into the session');
    assert.equal((await c.get('/_gateway/mfa/enrol')).status, 200, 'enrolment offered with the link');
  });
});
