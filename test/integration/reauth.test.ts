// /_gateway/reauth end to end: real Samba AD, real Redis, real HTTP through the gateway to an echo upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { sambaTool } from '../support/dc.js';
import { alertOf, Client, startTestGateway, type TestGateway } from '../support/gateway.js';

let t: TestGateway;

before(async () => {
  t = await startTestGateway();
});
after(async () => {
  await t.close();
});

const OTHER_PASSWORD = 'An0ther!Passw0rd-Re';

async function person(name: string, password = DEMO_PASSWORD): Promise<void> {
  await sambaTool(['user', 'create', name, password, '--userou=OU=People', `--mail-address=${name}@corp.example.com`]);
  await sambaTool(['group', 'addmembers', 'Sentry Users', name]);
}

function reauth(c: Client, password: string, next = '/settings/account/api/auth-tokens/', headers: Record<string, string> = {}): Promise<Response> {
  return c.submitForm(`/_gateway/reauth?next=${encodeURIComponent(next)}`, '/_gateway/reauth', { password }, headers);
}

/** The assertion Sentry receives for this browser's next proxied request. */
async function assertionOf(c: Client): Promise<JWTPayload> {
  const res = await c.get('/organizations/acme/issues/', { accept: 'application/json' });
  assert.equal(res.status, 200, 'the upstream answers a signed-in browser');
  const token = ((await res.json()) as { headers: Record<string, string> }).headers['x-sentry-gateway-assertion']!;
  const jwks = (await (await c.get('/_gateway/jwks.json', { accept: 'application/json' })).json()) as { keys: [] };
  return (await jwtVerify(token, createLocalJWKSet(jwks), { issuer: t.config.server.publicUrl, audience: 'sentry', currentDate: new Date(t.clock.now()) })).payload;
}

function copyOf(c: Client): Client {
  const copy = new Client(c.base);
  for (const [k, v] of c.cookies) copy.cookies.set(k, v);
  return copy;
}

describe('re-authentication', () => {
  test('the right password: a new session id, a later auth_time, the old cookie ends', async () => {
    await person('reauth-ok');
    const c = new Client(t.url);
    assert.equal((await c.login('reauth-ok', DEMO_PASSWORD)).status, 303);
    const before = await assertionOf(c);
    assert.deepEqual(before.amr, ['pwd']);
    const expiresBefore = ((await (await c.get('/_gateway/me', { accept: 'application/json' })).json()) as { expiresAt: string }).expiresAt;
    const old = copyOf(c);
    t.clock.advance(120_000);

    const page = await c.get('/_gateway/reauth?next=%2Fsettings%2Faccount%2Fapi%2Fauth-tokens%2F');
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Confirm it is you/);
    assert.match(html, /value="reauth-ok" readonly/, 'the account is the session’s, not typed');
    const res = await reauth(c, DEMO_PASSWORD);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/settings/account/api/auth-tokens/');
    assert.notEqual(c.cookies.get('sag_session'), old.cookies.get('sag_session'), 'a new session cookie');

    const afterward = await assertionOf(c);
    assert.notEqual(afterward.sid, before.sid, 'a new session id: nothing cached for the old one carries over');
    assert.ok(Number(afterward.auth_time) >= Number(before.auth_time) + 120, `auth_time moved: ${String(before.auth_time)} → ${String(afterward.auth_time)}`);
    assert.deepEqual(afterward.amr, ['pwd']);
    assert.equal(afterward.sub, before.sub);
    const expiresAfter = ((await (await c.get('/_gateway/me', { accept: 'application/json' })).json()) as { expiresAt: string }).expiresAt;
    assert.ok(Date.parse(expiresAfter) <= Date.parse(expiresBefore) || t.config.session.absoluteTimeout > t.config.session.idleTimeout, 'the absolute timeout still counts from the sign-in');

    const stale = await old.get('/organizations/acme/issues/');
    assert.equal(stale.status, 302, 'the old session cookie no longer works');
    assert.match(stale.headers.get('location') ?? '', /^\/_gateway\/login/);
  });

  test('a wrong password counts in the sign-in throttle exactly like a failed sign-in', async () => {
    await person('reauth-wrong');
    const c = new Client(t.url);
    assert.equal((await c.login('reauth-wrong', DEMO_PASSWORD)).status, 303);
    for (let i = 0; i < 5; i++) {
      const res = await reauth(c, `wrong-${i}`);
      assert.equal(res.status, 401, `attempt ${i}`);
      assert.equal(alertOf(await res.text()), 'Invalid username or password.');
    }
    const blocked = await reauth(c, DEMO_PASSWORD);
    assert.equal(blocked.status, 429, 'the sixth attempt never reaches AD, right password or not');
    assert.equal((await new Client(t.url).login('reauth-wrong', DEMO_PASSWORD)).status, 429, 'and the sign-in page shares the count');
    const out = await sambaTool(['user', 'show', 'reauth-wrong', '--attributes=badPwdCount,lockoutTime']);
    assert.ok(Number(/badPwdCount: (\d+)/.exec(out)?.[1] ?? '0') <= 5, out);
    assert.doesNotMatch(out, /lockoutTime: [1-9]/, 'the account is not locked');
    assert.equal((await c.get('/organizations/acme/issues/', { accept: 'application/json' })).status, 200, 'the session itself is untouched');
  });

  test("another account's password is refused", async () => {
    await person('reauth-mine');
    await person('reauth-theirs', OTHER_PASSWORD);
    const c = new Client(t.url);
    assert.equal((await c.login('reauth-mine', DEMO_PASSWORD)).status, 303);
    const sid = c.cookies.get('sag_session');
    assert.equal((await reauth(c, OTHER_PASSWORD)).status, 401);
    assert.equal(c.cookies.get('sag_session'), sid, 'no new session');
  });

  test('the name now held by another AD account (deleted and re-created): refused by objectGUID', async () => {
    await person('reauth-gone');
    const c = new Client(t.url);
    assert.equal((await c.login('reauth-gone', DEMO_PASSWORD)).status, 303);
    const before = await assertionOf(c);
    await sambaTool(['user', 'delete', 'reauth-gone']);
    await person('reauth-gone', OTHER_PASSWORD);
    const res = await reauth(c, OTHER_PASSWORD);
    assert.equal(res.status, 403);
    assert.match(await res.text(), /data-code="reauth_account_mismatch"/);
    assert.equal((await assertionOf(c)).sid, before.sid, 'the session was not moved');
  });

  test('without a session the page leads to sign-in; next stays on this site; zh-CN', async () => {
    const anon = await new Client(t.url).get('/_gateway/reauth?next=%2Fsettings%2F');
    assert.equal(anon.status, 303);
    assert.equal(anon.headers.get('location'), '/_gateway/login?next=%2Fsettings%2F');
    await person('reauth-zh');
    const c = new Client(t.url, { accept: 'text/html', 'accept-language': 'zh-CN' });
    assert.equal((await c.login('reauth-zh', DEMO_PASSWORD)).status, 303);
    assert.match(await (await c.get('/_gateway/reauth')).text(), /确认您的身份/);
    const res = await reauth(c, DEMO_PASSWORD, 'https://evil.example/');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/');
  });

  test('a foreign Origin is refused like on every form', async () => {
    await person('reauth-csrf');
    const c = new Client(t.url);
    assert.equal((await c.login('reauth-csrf', DEMO_PASSWORD)).status, 303);
    assert.equal((await reauth(c, DEMO_PASSWORD, '/', { origin: 'https://evil.example' })).status, 403);
  });
});
