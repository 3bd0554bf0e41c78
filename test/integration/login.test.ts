// Signing in end to end: real Samba AD, real Redis, real HTTP through the gateway to an echo upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import signature from 'cookie-signature';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD, USERS } from '../../src/dev/fixtures.js';
import { sambaTool } from '../support/dc.js';
import { alertOf, Client, sessionSecretOf, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

let t: TestGateway;
let redis: Redis;

before(async () => {
  t = await startTestGateway();
  redis = new Redis(testRedisUrl());
});
after(async () => {
  redis.disconnect();
  await t.close();
});

async function upstreamSaw(c: Client, path = '/organizations/acme/issues/') {
  const res = await c.get(path, { accept: 'application/json' });
  assert.equal(res.status, 200, `expected the upstream to answer ${path}`);
  return (await res.json()) as { headers: Record<string, string>; url: string };
}

describe('the way in', () => {
  test('a page without a session redirects to the login page with next', async () => {
    const res = await new Client(t.url).get('/organizations/acme/issues/?query=is%3Aunresolved');
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/_gateway/login?next=%2Forganizations%2Facme%2Fissues%2F%3Fquery%3Dis%253Aunresolved');
  });

  test("Sentry's own login and logout pages lead to the gateway's", async () => {
    const c = new Client(t.url);
    assert.equal((await c.get('/auth/login/acme/')).headers.get('location')?.startsWith('/_gateway/login'), true);
    assert.equal((await c.get('/auth/logout/')).headers.get('location'), '/_gateway/logout');
  });

  test('the login page speaks English or Chinese by Accept-Language, and ?lang= overrides', async () => {
    const en = await (await new Client(t.url).get('/_gateway/login')).text();
    assert.match(en, /<html lang="en">/);
    assert.match(en, /Sign in to Acme Sentry/);
    const zh = await (await new Client(t.url, { accept: 'text/html', 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' }).get('/_gateway/login')).text();
    assert.match(zh, /<html lang="zh-CN">/);
    assert.match(zh, /登录 Acme Sentry/);
    const forced = await (await new Client(t.url, { accept: 'text/html', 'accept-language': 'zh-CN' }).get('/_gateway/login?lang=en')).text();
    assert.match(forced, /Sign in to Acme Sentry/);
  });

  test('the login page carries security headers and is never cached', async () => {
    const res = await new Client(t.url).get('/_gateway/login');
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });
});

describe('signing in', () => {
  test('alice signs in and Sentry receives a verifiable assertion about her', async () => {
    const c = new Client(t.url);
    const res = await c.login('alice', DEMO_PASSWORD, '/organizations/acme/issues/');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/organizations/acme/issues/');
    const cookie = res.headers.getSetCookie().find((s) => s.startsWith('sag_session='));
    assert.ok(cookie, 'session cookie set');
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Lax/i);

    const seen = await upstreamSaw(c);
    const token = seen.headers['x-sentry-gateway-assertion'];
    assert.ok(token, 'assertion header forwarded');
    assert.doesNotMatch(seen.headers.cookie ?? '', /sag_session/, 'the gateway cookie never reaches Sentry');
    const jwks = (await (await c.get('/_gateway/jwks.json', { accept: 'application/json' })).json()) as { keys: [] };
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: t.config.server.publicUrl, audience: 'sentry' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.ok(protectedHeader.kid);
    assert.equal(payload.preferred_username, 'alice');
    assert.equal(payload.email, USERS.alice.email);
    assert.equal(payload.name, USERS.alice.displayName);
    assert.match(String(payload.sub), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 60);
    assert.ok(payload.jti && payload.sid && payload.nbf);

    const again = await upstreamSaw(c);
    assert.equal(again.headers['x-sentry-gateway-assertion'], token, 'a fresh assertion is reused, not re-signed per request');

    const me = (await (await c.get('/_gateway/me', { accept: 'application/json' })).json()) as Record<string, unknown>;
    assert.equal(me.username, 'alice');
    assert.equal(me.orgRole, 'manager');
    assert.deepEqual(me.teams, [
      { slug: 'backend', role: 'contributor' },
      { slug: 'sre', role: 'admin' },
    ]);
    assert.ok((me.groups as string[]).includes('Sentry Users'));
    assert.ok(Date.parse(String(me.expiresAt)) > Date.now());
  });

  for (const [form, username] of [
    ['NETBIOS\\name', 'CORP\\bob'],
    ['UPN with the second suffix', 'bob@staff.example.org'],
    ['upper case and spaces', '  BOB  '],
    ['lower-case netbios', 'corp\\bob'],
  ] as const) {
    test(`bob signs in as ${form}`, async () => {
      const c = new Client(t.url);
      assert.equal((await c.login(username, DEMO_PASSWORD)).status, 303);
      const me = (await (await c.get('/_gateway/me', { accept: 'application/json' })).json()) as Record<string, unknown>;
      assert.equal(me.username, 'bob');
    });
  }

  test('carol, whose access comes through a group with a Chinese name, signs in', async () => {
    const c = new Client(t.url);
    assert.equal((await c.login('carol', DEMO_PASSWORD)).status, 303);
    const me = (await (await c.get('/_gateway/me', { accept: 'application/json' })).json()) as { teams: { slug: string }[] };
    assert.deepEqual(me.teams.map((x) => x.slug), ['rnd']);
  });

  test('a safe next is kept; other origins in disguise land on /', async () => {
    for (const [next, expected] of [
      ['/settings/account/?x=1#top', '/settings/account/?x=1#top'],
      ['//evil.example/', '/'],
      ['https://evil.example/', '/'],
      ['/\\evil.example', '/'],
      ['/%5Cevil.example', '/%5Cevil.example'],
      ['javascript:alert(1)', '/'],
      ['/_gateway/login', '/'],
    ] as const) {
      const res = await new Client(t.url).login('bob', DEMO_PASSWORD, next);
      assert.equal(res.status, 303, next);
      assert.equal(res.headers.get('location'), expected, next);
    }
  });

  test('a session id planted before sign-in is replaced (no fixation)', async () => {
    const c = new Client(t.url);
    const planted = 's:' + signature.sign('planted-session-id-0123456789', sessionSecretOf(t));
    c.cookies.set('sag_session', encodeURIComponent(planted));
    assert.equal((await c.login('bob', DEMO_PASSWORD)).status, 303);
    const now = decodeURIComponent(c.cookies.get('sag_session') ?? '');
    assert.notEqual(now, planted);
    assert.ok(!now.includes('planted-session-id'));
  });

  test('a forged or unsigned session cookie gets the login page', async () => {
    for (const value of ['s:abc.def', 'abc', 's:' + signature.sign('x', 'not-the-secret')]) {
      const res = await new Client(t.url).get('/', { cookie: `sag_session=${encodeURIComponent(value)}` });
      assert.equal(res.status, 302);
    }
  });
});

describe('form protection', () => {
  test('a post without the CSRF token is refused with 403', async () => {
    const c = new Client(t.url);
    await c.get('/_gateway/login');
    const res = await c.request('/_gateway/login', {
      method: 'POST',
      body: new URLSearchParams({ username: 'alice', password: DEMO_PASSWORD }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 403);
    assert.equal(c.cookies.has('sag_session'), false);
  });

  test("a token from another browser's cookie is refused", async () => {
    const a = new Client(t.url);
    const page = await (await a.get('/_gateway/login')).text();
    const token = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    const b = new Client(t.url);
    await b.get('/_gateway/login');
    const res = await b.request('/_gateway/login', {
      method: 'POST',
      body: new URLSearchParams({ _csrf: token, username: 'alice', password: DEMO_PASSWORD }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 403);
  });

  test('a cross-origin post is refused even with a token', async () => {
    const res = await new Client(t.url).submitForm('/_gateway/login', '/_gateway/login', { username: 'alice', password: DEMO_PASSWORD }, { origin: 'https://evil.example' });
    assert.equal(res.status, 403);
  });

  test('an empty username or password shows the form again with 400', async () => {
    const res = await new Client(t.url).submitForm('/_gateway/login', '/_gateway/login', { username: 'alice', password: '' });
    assert.equal(res.status, 400);
    const html = await res.text();
    assert.match(html, /value="alice"/, 'the username is kept');
    assert.equal(alertOf(html), 'Enter your username and password.');
  });
});

describe('what AD says, and what the user sees', () => {
  const cases = [
    { name: 'wrong password', user: 'alice', password: 'not-her-password', status: 401, message: 'Invalid username or password.' },
    { name: 'unknown user', user: 'nobody-here', password: DEMO_PASSWORD, status: 401, message: 'Invalid username or password.' },
    { name: 'foreign domain', user: 'OTHER\\alice', password: DEMO_PASSWORD, status: 401, message: 'Invalid username or password.' },
    { name: 'filter metacharacters', user: 'a*)(cn=*', password: DEMO_PASSWORD, status: 401, message: 'Invalid username or password.' },
    { name: 'disabled (533)', user: 'disabled', password: DEMO_PASSWORD, status: 403, message: 'Your account is disabled. Contact IT.' },
    { name: 'expired (701)', user: 'expired', password: DEMO_PASSWORD, status: 403, message: 'Your account has expired. Contact IT.' },
    { name: 'must change password (773)', user: 'mustchange', password: DEMO_PASSWORD, status: 403, message: 'Your password has expired: change it, then sign in.' },
    { name: 'logon hours (530)', user: 'offhours', password: DEMO_PASSWORD, status: 403, message: 'You are not permitted to sign in now (logon hours or workstation restrictions).' },
    { name: 'workstation (531)', user: 'elsewhere', password: DEMO_PASSWORD, status: 403, message: 'You are not permitted to sign in now (logon hours or workstation restrictions).' },
    { name: 'outside the allow group', user: 'outsider', password: DEMO_PASSWORD, status: 403, message: 'Your account is not authorized for Sentry. Ask for access to the Sentry group.' },
    { name: 'in a deny group', user: 'denied', password: DEMO_PASSWORD, status: 403, message: 'Your account is not authorized for Sentry. Ask for access to the Sentry group.' },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.status}`, async () => {
      const client = new Client(t.url);
      const res = await client.login(c.user, c.password);
      assert.equal(res.status, c.status);
      assert.equal(alertOf(await res.text()), c.message);
      assert.equal(client.cookies.has('sag_session'), false);
    });
  }

  test('unknown user and wrong password get the same page', async () => {
    const strip = (h: string) => h.replace(/name="_csrf" value="[^"]+"/, '').replace(/value="[^"]*" aria-describedby/, '');
    const a = strip(await (await new Client(t.url).login('alice', 'wrong-password')).text());
    const b = strip(await (await new Client(t.url).login('nobody-at-all', 'wrong-password')).text());
    assert.equal(a, b);
  });

  test('the Chinese page tells a disabled account the same thing in Chinese', async () => {
    const c = new Client(t.url, { accept: 'text/html', 'accept-language': 'zh-CN' });
    const res = await c.login('disabled', DEMO_PASSWORD);
    assert.equal(alertOf(await res.text()), '您的账号已被禁用，请联系 IT。');
  });

  test('the audit log keeps the exact reason for every failure', async () => {
    await new Client(t.url).login('mustchange', DEMO_PASSWORD);
    const events = (await redis.lrange('sag:audit', 0, 50)).map((e) => JSON.parse(e) as { kind: string; user: string; reason?: string });
    assert.ok(events.some((e) => e.kind === 'login.failure' && e.user === 'mustchange' && e.reason === 'password_must_change'));
    assert.ok(events.some((e) => e.kind === 'login.failure' && e.user === 'nobody-here' && /no_such_user|invalid_credentials/.test(e.reason ?? '')));
  });
});

describe('throttling keeps real accounts from being locked out', () => {
  test('after 5 failures (lockoutThreshold 10 − 2 → 5) the gateway answers 429 and AD never sees the 6th', async () => {
    await sambaTool(['user', 'create', 'throttleme', DEMO_PASSWORD, '--userou=OU=People']);
    await sambaTool(['group', 'addmembers', 'Sentry Users', 'throttleme']);
    for (let i = 0; i < 5; i++) assert.equal((await new Client(t.url).login('throttleme', `wrong-${i}`)).status, 401);
    for (const form of ['throttleme', 'CORP\\throttleme', 'throttleme@corp.example.com']) {
      const res = await new Client(t.url).login(form, DEMO_PASSWORD);
      assert.equal(res.status, 429, form);
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      assert.match(alertOf(await res.text()) ?? '', /^Too many attempts\. Try again in \d+ seconds\.$/);
    }
    const out = await sambaTool(['user', 'show', 'throttleme', '--attributes=badPwdCount,lockoutTime']);
    const bad = Number(/badPwdCount: (\d+)/.exec(out)?.[1] ?? '0');
    assert.ok(bad <= 5, `AD counted ${bad} bad passwords`);
    assert.doesNotMatch(out, /lockoutTime: [1-9]/, 'the account is not locked');
  });
});

describe('throttling holds under parallel and spread attacks', () => {
  test('30 wrong passwords at once, in three name forms: AD sees at most 5', async () => {
    await sambaTool(['user', 'create', 'burst', DEMO_PASSWORD, '--userou=OU=People']);
    const forms = ['burst', 'CORP\\burst', 'burst@corp.example.com'];
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => new Client(t.url).login(forms[i % 3]!, `wrong-${i}`)));
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.every((s) => s === 401 || s === 429), statuses.join(','));
    assert.ok(statuses.filter((s) => s === 401).length <= 5, `${statuses.filter((s) => s === 401).length} reached AD`);
    const out = await sambaTool(['user', 'show', 'burst', '--attributes=badPwdCount,lockoutTime']);
    assert.ok(Number(/badPwdCount: (\d+)/.exec(out)?.[1] ?? '0') <= 5, out);
    assert.doesNotMatch(out, /lockoutTime: [1-9]/);
  });

  test('one client address gets perAddress failures, spread over any names', async () => {
    const strict = await startTestGateway({ throttle: { perAddress: 3 } });
    try {
      const from = (ip: string) => new Client(strict.url, { accept: 'text/html', 'accept-language': 'en', 'x-forwarded-for': ip });
      for (const name of ['alice', 'bob', 'carol']) assert.equal((await from('198.51.100.7').login(name, 'wrong')).status, 401);
      assert.equal((await from('198.51.100.7').login('dave', 'wrong')).status, 429, 'the fourth name from the same address');
      assert.equal((await from('198.51.100.8').login('dave', DEMO_PASSWORD)).status, 303, 'another address is unaffected');
    } finally {
      await strict.close();
    }
  });
});

describe('sessions end', () => {
  test('sign-out ends the session and a replayed cookie is worthless', async () => {
    const c = new Client(t.url);
    await c.login('bob', DEMO_PASSWORD);
    const stolen = c.cookieHeader();
    assert.equal((await c.get('/_gateway/logout')).status, 200);
    const res = await c.submitForm('/_gateway/logout', '/_gateway/logout', {});
    assert.equal(res.status, 200);
    assert.match(await res.text(), /You have signed out/);
    assert.equal(c.cookies.has('sag_session'), false);
    assert.equal((await new Client(t.url).get('/', { cookie: stolen })).status, 302);
  });

  test('an account disabled in AD is signed out at the next revalidation', async () => {
    await sambaTool(['user', 'create', 'leaver', DEMO_PASSWORD, '--userou=OU=People']);
    await sambaTool(['group', 'addmembers', 'Sentry Users', 'leaver']);
    const c = new Client(t.url);
    assert.equal((await c.login('leaver', DEMO_PASSWORD)).status, 303);
    await upstreamSaw(c);
    await sambaTool(['user', 'disable', 'leaver']);
    t.clock.advance(6 * 60_000);
    const res = await c.get('/');
    assert.equal(res.status, 302, 'sent back to the login page');
    const events = (await redis.lrange('sag:audit', 0, 20)).map((e) => JSON.parse(e) as { kind: string; user: string; reason?: string });
    assert.ok(events.some((e) => e.kind === 'session.ended' && e.user === 'leaver' && e.reason === 'account_disabled'));
  });

  test('a user removed from the allow group loses access at the next revalidation', async () => {
    await sambaTool(['user', 'create', 'mover', DEMO_PASSWORD, '--userou=OU=People']);
    await sambaTool(['group', 'addmembers', 'Sentry Users', 'mover']);
    const c = new Client(t.url);
    assert.equal((await c.login('mover', DEMO_PASSWORD)).status, 303);
    await sambaTool(['group', 'removemembers', 'Sentry Users', 'mover']);
    t.clock.advance(6 * 60_000);
    assert.equal((await c.get('/', { accept: 'application/json' })).status, 401);
  });

  test('an idle session expires', async () => {
    const c = new Client(t.url);
    await c.login('bob', DEMO_PASSWORD);
    t.clock.advance(8 * 3_600_000 + 1000);
    assert.equal((await c.get('/')).status, 302);
  });
});

describe('health', () => {
  test('readyz reports Redis and every DC to an admin', async () => {
    const admin = new Client(t.url);
    assert.equal((await admin.login('alice', DEMO_PASSWORD)).status, 303);
    const res = await admin.get('/_gateway/readyz', { accept: 'application/json' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; checks: { redis: { ok: boolean }; directory: { controllers: { ok: boolean }[] } } };
    assert.equal(body.status, 'ready');
    assert.equal(body.checks.redis.ok, true);
    assert.equal(body.checks.directory.controllers[0]?.ok, true);
  });

  test('healthz answers 200', async () => {
    assert.equal((await new Client(t.url).get('/_gateway/healthz')).status, 200);
  });
});

describe('secrets stay out of logs', () => {
  test('no password, session cookie or assertion appears in any log line', async () => {
    const c = new Client(t.url);
    await c.login('alice', 'Secret-Wrong-Pw-123');
    await c.login('alice', DEMO_PASSWORD);
    const seen = await upstreamSaw(c);
    const secrets = [DEMO_PASSWORD, 'Secret-Wrong-Pw-123', decodeURIComponent(c.cookies.get('sag_session')!), seen.headers['x-sentry-gateway-assertion']!, sessionSecretOf(t)];
    for (const line of t.logs) for (const s of secrets) assert.ok(!line.includes(s), `a log line leaks a secret: ${line.slice(0, 120)}`);
    assert.ok(t.logs.some((l) => l.includes('login.success')));
  });
});
