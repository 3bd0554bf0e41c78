// Signing in end to end: real Samba AD, real Redis, real HTTP through the gateway to an echo upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import signature from 'cookie-signature';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD, DOMAIN_POLICY, USERS } from '../../src/dev/fixtures.js';
import { badPasswords, createPso, grantPsoRead, sambaTool } from '../support/dc.js';
import { alertOf, Client, decodeHtml, sessionSecretOf, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';
import { NameHasher } from '../../src/shared/nameHasher.js';

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

  test('Origin: null (a sandboxed frame, a data: page) is refused on sign-in and sign-out, even with a token', async () => {
    const anon = new Client(t.url);
    const res = await anon.submitForm('/_gateway/login', '/_gateway/login', { username: 'alice', password: DEMO_PASSWORD }, { origin: 'null' });
    assert.equal(res.status, 403);
    assert.equal(anon.cookies.has('sag_session'), false, 'not signed in');
    const c = new Client(t.url);
    assert.equal((await c.login('alice', DEMO_PASSWORD)).status, 303);
    const out = await c.submitForm('/_gateway/logout', '/_gateway/logout', {}, { origin: 'null' });
    assert.equal(out.status, 403);
    assert.equal((await c.get('/_gateway/me', { accept: 'application/json' })).status, 200, 'still signed in');
  });

  test('a CSRF cookie and token an attacker fetched for themselves, planted in a signed-in browser, are refused', async () => {
    // What a sibling subdomain can do over http: set our CSRF cookie to a value whose token it knows.
    const attacker = new Client(t.url);
    const token = /name="_csrf" value="([^"]+)"/.exec(await (await attacker.get('/_gateway/logout')).text())![1]!;
    const victim = new Client(t.url);
    assert.equal((await victim.login('alice', DEMO_PASSWORD)).status, 303);
    victim.cookies.set('sag_csrf', attacker.cookies.get('sag_csrf')!);
    const res = await victim.request('/_gateway/logout', {
      method: 'POST',
      body: new URLSearchParams({ _csrf: decodeHtml(token) }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 403);
    assert.equal((await victim.get('/_gateway/me', { accept: 'application/json' })).status, 200, 'not signed out by someone else');
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
    // A name that matches no account is recorded only as its keyed hash (it may be a mistyped password).
    const nobody = t.gw.deps.names.hash('nobody-here');
    assert.ok(events.some((e) => e.kind === 'login.failure' && e.user === nobody && e.reason === 'no_such_user'), 'the unknown name, hashed, with its reason');
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

describe('a patient attacker cannot lock an account, whatever the timing', () => {
  // The reported case: the domain locks after 5 bad passwords within a 1-minute observation window, and
  // the gateway's window is 1 minute. The real DC counts in real time; the gateway in its injected clock.
  let g: TestGateway;
  let base: number;
  const setTime = (seconds: number) => {
    g.clock.offset = base + seconds * 1000 - Date.now();
  };
  const attempt = (seconds: number, password = 'not-the-password') => {
    setTime(seconds);
    return new Client(g.url).login('patient', password);
  };

  before(async () => {
    await sambaTool(['user', 'create', 'patient', DEMO_PASSWORD, '--userou=OU=People']);
    await sambaTool(['group', 'addmembers', 'Sentry Users', 'patient']);
    await sambaTool(['domain', 'passwordsettings', 'set', '--account-lockout-threshold=5', '--reset-account-lockout-after=1']);
    g = await startTestGateway({ throttle: { window: '1m' } });
    base = Date.now();
  });
  after(async () => {
    await g.close();
    // Back to the fixtures' domain policy for the suites that follow.
    await sambaTool(['domain', 'passwordsettings', 'set', `--account-lockout-threshold=${DOMAIN_POLICY.lockoutThreshold}`, '--reset-account-lockout-after=30']);
  });

  test('failures at 0, 30 and 31 s; at 32, 62 and 63 s the gateway answers 429 counting from the last failure, and AD stays below 5', async () => {
    for (const s of [0, 30, 31]) assert.equal((await attempt(s)).status, 401, `the failure at ${s} s reaches AD`);
    for (const [s, left] of [[32, 59], [62, 29], [63, 28]] as const) {
      const res = await attempt(s);
      assert.equal(res.status, 429, `at ${s} s`);
      const retry = Number(res.headers.get('retry-after'));
      assert.ok(retry >= left - 1 && retry <= left + 1, `Retry-After ${retry} s at ${s} s: the window runs from the last failure at 31 s (about ${left} s left)`);
    }
    const ad = await badPasswords('patient');
    assert.equal(ad.count, 3, 'threshold 5 − 2 = 3 failures reached AD');
    assert.equal(ad.locked, false);
    // A whole quiet minute after the last failure AD has forgotten, and so has the gateway.
    assert.equal((await attempt(92, DEMO_PASSWORD)).status, 303);
  });

  test('spread over many windows, no run of failures ever reaches AD\'s threshold', async () => {
    // The DC forgets in real time, which this test does not wait for: once a simulated minute has
    // passed since the last failure AD saw, the test makes the DC forget too, as it would have.
    let t = 100;
    let adLast = -Infinity;
    let reached = 0;
    for (const gap of [1, 58, 1, 1, 58, 1, 62, 2, 2, 2, 2, 57, 57, 57, 121, 0, 0, 0, 0, 0, 58, 58]) {
      t += gap;
      if (adLast !== -Infinity && t - adLast >= 60) {
        const ad = await badPasswords('patient');
        assert.ok(ad.count < 5 && !ad.locked, `before ${t} s AD counted ${ad.count}`);
        await sambaTool(['user', 'unlock', 'patient']);
        adLast = -Infinity;
      }
      const res = await attempt(t);
      assert.ok(res.status === 401 || res.status === 429, `at ${t} s: ${res.status}`);
      if (res.status === 401) {
        adLast = t;
        reached++;
      }
    }
    const ad = await badPasswords('patient');
    assert.ok(ad.count < 5 && !ad.locked, `AD counted ${ad.count}`);
    assert.ok(reached >= 6, `the gateway lets failures through again once AD has forgotten (${reached})`);
    await sambaTool(['user', 'unlock', 'patient']);
  });
});

describe("a person's fine-grained password policy", () => {
  // The domain locks after 10, but a PSO locks this person after 5: the gateway must keep below 5.
  let g: TestGateway;
  before(async () => {
    await sambaTool(['user', 'create', 'pso-person', DEMO_PASSWORD, '--userou=OU=People']);
    await sambaTool(['group', 'addmembers', 'Sentry Users', 'pso-person']);
    await createPso('sag-login-strict', { precedence: 1, lockoutThreshold: 5, windowMinutes: 1, applyTo: ['pso-person'] });
    await grantPsoRead();
    g = await startTestGateway({ throttle: { window: '1m' } });
  });
  after(async () => {
    await g.close();
    await sambaTool(['domain', 'passwordsettings', 'pso', 'delete', 'sag-login-strict']).catch(() => undefined);
  });

  test('the stricter PSO sets the limit: 3 failures reach AD, then 429, and the account is not locked', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await new Client(g.url).login('pso-person', `wrong-${i}`)).status, 401, `failure ${i + 1}`);
    for (let i = 0; i < 3; i++) assert.equal((await new Client(g.url).login('pso-person', `wrong-${i}`)).status, 429, 'the domain threshold of 10 would have allowed this');
    const ad = await badPasswords('pso-person');
    assert.equal(ad.count, 3);
    assert.equal(ad.locked, false);
  });
});

describe('names that match no account are not kept', () => {
  test('a password typed as the username reaches the audit log, the logs and Redis only as a keyed hash', async () => {
    const typed = 'Sp1ll-My-Password!';
    await new Client(t.url).login(typed, 'whatever');
    const events = (await redis.lrange('sag:audit', 0, 50)).map((e) => JSON.parse(e) as { kind: string; user: string; reason?: string });
    assert.ok(!events.some((e) => JSON.stringify(e).includes(typed)), 'no audit entry holds the typed text');
    const keys = await redis.keys('sag:throttle:*');
    assert.ok(!keys.some((k) => k.toLowerCase().includes(typed.toLowerCase())), 'no Redis key holds the typed text');
    assert.ok(!t.logs.some((l) => l.toLowerCase().includes(typed.toLowerCase())), 'no log line holds the typed text');
    // Keyed with the session secret (HKDF), so an admin holding it can still match the name.
    const expected = new NameHasher(() => [sessionSecretOf(t)]).hash(typed);
    assert.ok(events.some((e) => e.kind === 'login.failure' && e.user === expected && e.reason === 'no_such_user'), 'the failure is recorded under the hash');
    assert.ok(keys.includes(`sag:throttle:user:name:${expected}`), 'the throttle counts the hash');
  });

  test('a real account keeps its real name in the audit log', async () => {
    await new Client(t.url).login('CORP\\bob', 'not-bobs-password');
    const events = (await redis.lrange('sag:audit', 0, 20)).map((e) => JSON.parse(e) as { kind: string; user: string; reason?: string });
    assert.ok(events.some((e) => e.kind === 'login.failure' && e.user === 'CORP\\bob' && e.reason === 'invalid_credentials'), 'bob is recorded by name');
  });
});

describe('client addresses', () => {
  test('IPv6 clients are throttled by their /64, and IPv4-mapped IPv6 counts as the IPv4 address', async () => {
    const strict = await startTestGateway({ throttle: { perAddress: 2 } });
    try {
      const from = (ip: string) => new Client(strict.url, { accept: 'text/html', 'accept-language': 'en', 'x-forwarded-for': ip });
      assert.equal((await from('2001:db8:77:1::1').login('alice', 'wrong')).status, 401);
      assert.equal((await from('2001:db8:77:1::2').login('bob', 'wrong')).status, 401);
      assert.equal((await from('2001:db8:77:1:ffff::3').login('carol', 'wrong')).status, 429, 'a new address in the same /64 is the same client');
      assert.equal((await from('2001:db8:77:2::1').login('bob', DEMO_PASSWORD)).status, 303, 'the next /64 is unaffected');
      assert.equal((await from('203.0.113.9').login('alice', 'wrong')).status, 401);
      assert.equal((await from('::ffff:203.0.113.9').login('bob', 'wrong')).status, 401);
      assert.equal((await from('203.0.113.9').login('carol', 'wrong')).status, 429, 'the IPv4-mapped form counted against the IPv4 address');
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

describe('cookies when the public URL is https', () => {
  let h: TestGateway;
  before(async () => {
    h = await startTestGateway({ server: { publicUrl: 'https://sentry.test' } });
  });
  after(() => h?.close());
  // The TLS proxy in front says the browser spoke https (server.trustProxy trusts loopback).
  const browser = () => new Client(h.url, { accept: 'text/html,application/xhtml+xml', 'accept-language': 'en', 'x-forwarded-proto': 'https' });

  test('are __Host- prefixed (Secure, Path=/, no Domain), and none of them reaches Sentry', async () => {
    const c = browser();
    const page = await c.get('/_gateway/login');
    const csrf = page.headers.getSetCookie().find((x) => x.startsWith('__Host-sag_csrf='));
    assert.ok(csrf, `CSRF cookie: ${page.headers.getSetCookie().join(' | ')}`);
    const res = await c.login('alice', DEMO_PASSWORD);
    assert.equal(res.status, 303);
    const session = res.headers.getSetCookie().find((x) => x.startsWith('__Host-sag_session='));
    assert.ok(session, `session cookie: ${res.headers.getSetCookie().join(' | ')}`);
    for (const cookie of [csrf, session]) {
      assert.match(cookie, /; Secure/i);
      assert.match(cookie, /; Path=\/(;|$)/i);
      assert.doesNotMatch(cookie, /; Domain=/i);
    }
    // A cookie left from before the move to https rides along too: Sentry sees none of the gateway's.
    c.cookies.set('sag_session', c.cookies.get('__Host-sag_session')!);
    const seen = (await (await c.get('/organizations/acme/issues/', { accept: 'application/json' })).json()) as { headers: Record<string, string> };
    assert.ok(seen.headers['x-sentry-gateway-assertion'], 'signed in');
    assert.doesNotMatch(seen.headers.cookie ?? '', /sag_session|sag_csrf/);
  });

  test('a session cookie under the name it had before the move to https is not read: the person signs in again', async () => {
    const c = browser();
    assert.equal((await c.login('alice', DEMO_PASSWORD)).status, 303);
    const value = c.cookies.get('__Host-sag_session');
    assert.ok(value, 'the session cookie has its https name');
    // The same valid, signed session id under the old name: a sibling subdomain could have planted it.
    const old = browser();
    old.cookies.set('sag_session', value);
    const res = await old.get('/organizations/acme/issues/');
    assert.equal(res.status, 302);
    assert.match(res.headers.get('location') ?? '', /^\/_gateway\/login/);
    // Not silent: the operator is told once why people are signing in again.
    assert.equal(h.logs.filter((l) => l.includes('from before the public URL became https')).length, 1);
    await old.get('/organizations/acme/issues/');
    assert.equal(h.logs.filter((l) => l.includes('from before the public URL became https')).length, 1, 'said once, not per request');
  });
});
