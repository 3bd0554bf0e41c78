// Session administration from the shell: `sessions list` and `sessions revoke` against the same Redis the gateway uses.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import signature from 'cookie-signature';
import { WebSocket } from 'ws';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { createRedis, type RedisClient } from '../../src/redis/createRedis.js';
import { LEGACY_SESSION_USERS_KEY, LEGACY_USER_SESSIONS_PREFIX, PERSON_SESSIONS_PREFIX } from '../../src/session/sessionIndex.js';
import { SessionResolver } from '../../src/session/sessionResolver.js';
import { createSessionStore, SESSION_PREFIX, storeOps } from '../../src/session/sessionStore.js';
import type { Identity } from '../../src/session/identity.js';
import { silentLogger } from '../../src/shared/logger.js';
import { csrfOf, post, signedIn } from '../support/adminHelpers.js';
import { sambaTool } from '../support/dc.js';
import { runCli, type CliRun } from '../support/cli.js';
import { Client, decodeHtml, sessionSecretOf, startTestGateway, testRedisUrl, TestClock, type TestGateway } from '../support/gateway.js';

let t: TestGateway;
before(async () => {
  t = await startTestGateway();
});
after(() => t?.close());

const cli = (args: string[]): Promise<CliRun> => runCli([...args, '--config', t.configFile]);
/** The index key of a person's sessions: their objectGUID, as AD has it now. */
const indexKeyOf = async (name: string) => PERSON_SESSIONS_PREFIX + (await t.gw.deps.directory.lookup(name))!.guid.toLowerCase();

interface Listed {
  sessions: { username: string; clientAddress?: string; userAgent?: string; authenticatedAt: string; sessionId?: string }[];
}

describe('sessions list / revoke', () => {
  test('list shows who is signed in, from where and since when; revoke ends them on the next request', async () => {
    // Earlier suites share this Redis and leave sessions of bob's behind (some from other addresses): start clean.
    assert.equal((await cli(['sessions', 'revoke', '--user', 'bob'])).code, 0);
    const [b1, b2] = await Promise.all([signedIn(t.url, 'bob', DEMO_PASSWORD), signedIn(t.url, 'bob@staff.example.org', DEMO_PASSWORD)]);
    const carol = await signedIn(t.url, 'carol', DEMO_PASSWORD);

    const listed = await cli(['sessions', 'list', '--user', 'bob', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const out = JSON.parse(listed.stdout) as Listed;
    assert.equal(out.sessions.length, 2, 'both of bob’s sessions, whichever name he typed');
    assert.ok(out.sessions.every((s) => s.username === 'bob' && s.clientAddress === '127.0.0.1' && !Number.isNaN(Date.parse(s.authenticatedAt))));
    assert.ok(out.sessions.every((s) => s.sessionId === undefined), 'session ids are not printed');

    const human = await cli(['sessions', 'list']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^user\s+signed in\s+last seen\s+from\s+browser/m);
    assert.match(human.stdout, /^carol\s+\d{4}-/m);

    // Both sessions are in use, so the gateway holds them in its cache when they are revoked.
    for (const c of [b1, b2]) assert.equal((await c.get('/organizations/acme/')).status, 200);
    const revoked = await cli(['sessions', 'revoke', '--user', 'bob']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /Ended \d+ sessions? of bob/);
    // Another process revoked them and announced it: the gateway refuses them at once.
    for (const c of [b1, b2]) {
      let res = await c.get('/organizations/acme/');
      for (let i = 0; i < 20 && res.status !== 302; i++) {
        await sleep(50);
        res = await c.get('/organizations/acme/');
      }
      assert.equal(res.status, 302, 'refused within a second');
      assert.match(res.headers.get('location')!, /^\/_gateway\/login/);
    }
    assert.equal((await carol.get('/_gateway/me', { accept: 'application/json' })).status, 200, 'carol is untouched');
    const after = JSON.parse((await cli(['sessions', 'list', '--user', 'bob', '--json'])).stdout) as Listed;
    assert.deepEqual(after.sessions, []);
    assert.equal(await t.gw.deps.redis!.scard(await indexKeyOf('bob')), 0, 'the index forgot them');

    const json = await cli(['sessions', 'revoke', '--user', 'bob', '--json']);
    assert.deepEqual(JSON.parse(json.stdout), { user: 'bob', revoked: 0 });
  });

  test('signing out removes the session from the index; dead ids are dropped when listing', async () => {
    // Other suites in the run may have left dave sessions of their own: look only at this one.
    const key = await indexKeyOf('dave');
    const before = new Set(await t.gw.deps.redis!.smembers(key));
    const c = await signedIn(t.url, 'dave', DEMO_PASSWORD);
    const mine = (await t.gw.deps.redis!.smembers(key)).filter((id) => !before.has(id));
    assert.equal(mine.length, 1, 'the sign-in was indexed');
    await t.gw.deps.redis!.sadd(key, 'expired-session-id');
    const token = /name="_csrf" value="([^"]+)"/.exec(await (await c.get('/_gateway/logout')).text())![1]!;
    await c.request('/_gateway/logout', { method: 'POST', body: new URLSearchParams({ _csrf: token }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(await t.gw.deps.redis!.sismember(key, mine[0]!), 0, 'sign-out took it out');
    const listed = await cli(['sessions', 'list', '--user', 'dave', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(await t.gw.deps.redis!.sismember(key, 'expired-session-id'), 0, 'listing dropped the dead id');
  });

  test("a browser's C1 control (0x9B, CSI; node itself refuses ESC in a header) reaches neither the admin's terminal nor the console page", async () => {
    // Node accepts header bytes 0x80-0xFF (read as latin1): 0x9B arrives as U+009B, a CSI to many terminals.
    const hostile = 'Mozilla/5.0 \u009b2J\u009b31mpwned';
    const c = new Client(t.url, { accept: 'text/html', 'accept-language': 'en', 'user-agent': hostile });
    assert.equal((await c.login('dave', DEMO_PASSWORD)).status, 303);
    const stored = JSON.parse((await cli(['sessions', 'list', '--user', 'dave', '--json'])).stdout) as Listed;
    assert.ok(stored.sessions.some((s) => s.userAgent === hostile), 'the JSON keeps the value (escaped as JSON) for scripts');

    for (const args of [['sessions', 'list'], ['sessions', 'list', '--user', 'dave'], ['sessions', 'list', '--user', 'dave', '--json']]) {
      const out = await cli(args);
      assert.equal(out.code, 0, out.stderr);
      assert.doesNotMatch(out.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, `${args.join(' ')} printed a control character`);
      assert.ok(out.stdout.includes('Mozilla/5.0 \\u009b2J\\u009b31mpwned'), `${args.join(' ')} shows it escaped:\n${out.stdout}`);
    }

    const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const page = await (await admin.get('/_gateway/admin/sessions')).text();
    assert.ok(!page.includes('\u009b'), 'the console page carries no C1 control');
    assert.ok(page.includes('Mozilla&#x2F;5.0 \\u009b2J'), 'the console shows it escaped');
  });

  test('usage errors exit 2', async () => {
    assert.equal((await cli(['sessions', 'revoke'])).code, 2);
    assert.equal((await cli(['sessions', 'frobnicate'])).code, 2);
    assert.ok(new Client(t.url));
  });
});

describe('revocation', () => {
  test('a revocation that reaches Redis just before the idle-time write is not undone by it', async () => {
    const plain = createRedis(testRedisUrl());
    const other = createRedis(testRedisUrl());
    try {
      await Promise.all([plain, other].map((r) => (r.status === 'ready' ? undefined : once(r, 'ready'))));
      const sid = `race-${randomBytes(8).toString('hex')}`;
      const key = SESSION_PREFIX + sid;
      const clock = new TestClock();
      const identity = { sub: 'guid-race', username: 'race', email: 'race@corp.example.com', name: 'Race', dn: 'CN=race', groups: [], orgRole: 'member', teams: [], isAdmin: false } satisfies Identity;
      const timeouts = { idleMs: 30 * 60_000, absoluteMs: 8 * 3600_000 };
      const now = clock.now();
      await storeOps.set(createSessionStore(plain, timeouts), sid, { cookie: { originalMaxAge: null }, passport: { user: identity }, authenticatedAt: now, revalidatedAt: now, lastSeenAt: now });
      // The resolver's Redis connection, except that a revocation (DEL on another connection) reaches
      // Redis right before any write of this session's record: the worst moment a revoke can land.
      const racing = new Proxy(plain, {
        get(target, prop) {
          if (prop === 'set') {
            return async (...args: unknown[]) => {
              if (args[0] === key) await other.del(key);
              return (target.set as (...a: unknown[]) => unknown)(...args);
            };
          }
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }) as RedisClient;
      const secret = randomBytes(32).toString('base64url');
      const resolver = new SessionResolver({
        store: createSessionStore(racing, timeouts),
        secrets: [secret],
        cookieName: 'sag_session',
        ...timeouts,
        revalidateMs: 24 * 3600_000,
        revalidate: async () => ({ ok: 'unavailable' }),
        clock,
        logger: silentLogger(),
      });
      // A minute later the request is due to record that the person was seen: the write the revoke races.
      clock.advance(61_000);
      const req = { headers: { cookie: `sag_session=s:${signature.sign(sid, secret)}` } } as Parameters<SessionResolver['lookup']>[0];
      const found = await resolver.lookup(req);
      assert.notEqual(found.status, 'ok', 'the revoked session is not served');
      assert.equal(await plain.exists(key), 0, 'the revoked session stays gone');
    } finally {
      plain.disconnect();
      other.disconnect();
    }
  });

  test('revoke takes the name in every form sign-in takes: DOMAIN\\name, name@suffix, any case', async () => {
    for (const form of ['CORP\\carol', 'corp\\CAROL', 'carol@corp.example.com', 'Carol@Corp.Example.Com']) {
      const c = await signedIn(t.url, 'carol', DEMO_PASSWORD);
      assert.equal((await c.get('/organizations/acme/')).status, 200);
      const r = await cli(['sessions', 'revoke', '--user', form, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok((JSON.parse(r.stdout) as { revoked: number }).revoked >= 1, `${form} ended carol's session: ${r.stdout}`);
      let res = await c.get('/organizations/acme/');
      for (let i = 0; i < 20 && res.status !== 302; i++) {
        await sleep(50);
        res = await c.get('/organizations/acme/');
      }
      assert.equal(res.status, 302, `signed out after revoke --user ${form}`);
    }
    const listed = await cli(['sessions', 'list', '--user', 'CORP\\carol', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    // A name from another domain names nobody here: said, not silently "0 sessions".
    const foreign = await cli(['sessions', 'revoke', '--user', 'OTHER\\carol']);
    assert.notEqual(foreign.code, 0);
    assert.match(foreign.stderr, /OTHER\\carol/);
  });

  test('an account renamed in AD: revoke --user NEWNAME ends the sessions it signed in with under its old name, an older index too', async () => {
    // A throwaway account of this test, so no other suite's fixture user changes name.
    const suffix = randomBytes(3).toString('hex');
    const oldName = `ren-${suffix}`;
    const newName = `renamed-${suffix}`;
    await sambaTool(['user', 'create', oldName, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${oldName}@corp.example.com`]);
    try {
      await sambaTool(['group', 'addmembers', 'Sentry Users', oldName]);
      const c = await signedIn(t.url, oldName, DEMO_PASSWORD);
      const before = await signedIn(t.url, oldName, DEMO_PASSWORD);
      assert.equal((await c.get('/organizations/acme/')).status, 200);
      // `before` stands for a session an earlier version indexed under the account name: moved there by hand.
      const redis = t.gw.deps.redis!;
      const raw = decodeURIComponent(before.cookies.get(t.config.session.cookieName) ?? '');
      const beforeSid = signature.unsign(raw.slice(2), sessionSecretOf(t));
      assert.ok(beforeSid, 'a signed session cookie');
      await redis.srem(await indexKeyOf(oldName), beforeSid);
      await redis.sadd(`${LEGACY_USER_SESSIONS_PREFIX}${oldName}`, beforeSid);
      await redis.sadd(LEGACY_SESSION_USERS_KEY, oldName);

      await sambaTool(['user', 'rename', oldName, `--samaccountname=${newName}`, `--upn=${newName}@corp.example.com`]);

      const listed = await cli(['sessions', 'list', '--user', newName, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal((JSON.parse(listed.stdout) as Listed).sessions.length, 2, 'both sessions, under the name they signed in with');
      const revoked = await cli(['sessions', 'revoke', '--user', `CORP\\${newName.toUpperCase()}`]);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.match(revoked.stdout, new RegExp(`Ended 2 sessions of ${newName}`));
      for (const client of [c, before]) {
        let res = await client.get('/organizations/acme/');
        for (let i = 0; i < 20 && res.status !== 302; i++) {
          await sleep(50);
          res = await client.get('/organizations/acme/');
        }
        assert.equal(res.status, 302, 'the proxied request needs a sign-in again');
        assert.match(res.headers.get('location')!, /^\/_gateway\/login/);
      }
      assert.equal(await redis.scard(`${LEGACY_USER_SESSIONS_PREFIX}${oldName}`), 0, 'the older index entry was moved, then ended');
    } finally {
      await sambaTool(['user', 'delete', oldName]).catch(() => sambaTool(['user', 'delete', newName]));
    }
  });

  test("the console's Revoke on a row ends that person's sessions, even when their old name now belongs to someone else", async () => {
    const suffix = randomBytes(3).toString('hex');
    const [first, moved] = [`reuse-${suffix}`, `moved-${suffix}`];
    await sambaTool(['user', 'create', first, DEMO_PASSWORD, '--userou=OU=People']);
    try {
      await sambaTool(['group', 'addmembers', 'Sentry Users', first]);
      const renamed = await signedIn(t.url, first, DEMO_PASSWORD);
      // The account is renamed (its CN too), and a new account takes its old name.
      await sambaTool(['user', 'rename', first, `--samaccountname=${moved}`, `--upn=${moved}@corp.example.com`, `--force-new-cn=${moved}`]);
      await sambaTool(['user', 'create', first, DEMO_PASSWORD, '--userou=OU=People']);
      await sambaTool(['group', 'addmembers', 'Sentry Users', first]);
      const newcomer = await signedIn(t.url, first, DEMO_PASSWORD);

      const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
      const page = await (await admin.get('/_gateway/admin/sessions')).text();
      // Both rows show the name `first`: only the objectGUID in the row's form tells them apart.
      const forms = [...page.matchAll(/<form method="post" action="[^"]*revoke"[^>]*>(.*?)<\/form>/gs)].map((m) => Object.fromEntries([...m[1]!.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((f) => [f[1]!, decodeHtml(f[2]!)])));
      const renamedGuid = (await t.gw.deps.directory.lookup(moved))!.guid.toLowerCase();
      const row = forms.find((f) => f['sub'] === renamedGuid);
      assert.ok(row, `a row for the renamed person: ${JSON.stringify(forms)}`);
      assert.equal(row['user'], first, 'shown under the name it signed in with');
      assert.equal((await post(admin, '/_gateway/admin/sessions/revoke', { ...row, _csrf: csrfOf(page) })).status, 303);
      let res = await renamed.get('/organizations/acme/');
      for (let i = 0; i < 20 && res.status !== 302; i++) {
        await sleep(50);
        res = await renamed.get('/organizations/acme/');
      }
      assert.equal(res.status, 302, "the renamed person's session ended");
      assert.equal((await newcomer.get('/organizations/acme/')).status, 200, 'the account that now has the name keeps its session');
    } finally {
      await sambaTool(['user', 'delete', moved]).catch(() => undefined);
      await sambaTool(['user', 'delete', first]).catch(() => undefined);
    }
  });

  test('a session whose index write failed can still be revoked', async () => {
    const redis = t.gw.deps.redis!;
    const key = await indexKeyOf('dave');
    const saved = await redis.smembers(key);
    // Any failure of the index write will do; a key of the wrong type makes Redis refuse it.
    await redis.del(key);
    await redis.set(key, 'not a set');
    let c: Client;
    try {
      c = new Client(t.url);
      await c.login('dave', DEMO_PASSWORD);
    } finally {
      await redis.del(key);
      if (saved.length) await redis.sadd(key, ...saved);
    }
    const r = await cli(['sessions', 'revoke', '--user', 'dave']);
    assert.equal(r.code, 0, r.stderr);
    let res = await c.get('/organizations/acme/');
    for (let i = 0; i < 20 && res.status === 200; i++) {
      await sleep(50);
      res = await c.get('/organizations/acme/');
    }
    assert.notEqual(res.status, 200, 'no session of dave outlives revoke --user dave');
  });
});

describe('open WebSockets', () => {
  /** Opens a WebSocket with the client's cookies; `closed` is watched from the start, so no close is missed. */
  async function openWs(c: Client): Promise<{ ws: WebSocket; closedWithin(ms: number): Promise<boolean> }> {
    const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}/api/0/live/`, { origin: new URL(t.config.server.publicUrl).origin, headers: { cookie: c.cookieHeader() } });
    ws.on('error', () => {});
    const closed = new Promise<true>((resolve) => ws.once('close', () => resolve(true)));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_q, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
    });
    return { ws, closedWithin: (ms) => Promise.race([closed, sleep(ms).then(() => false)]) };
  }

  test('close when the session is revoked, signed out, or times out', async () => {
    const revoked = await openWs(await signedIn(t.url, 'bob', DEMO_PASSWORD));
    assert.equal((await cli(['sessions', 'revoke', '--user', 'bob'])).code, 0);
    assert.ok(await revoked.closedWithin(10_000), 'the revoked session’s WebSocket closed');

    const alice = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const signedOut = await openWs(alice);
    const bystander = await openWs(await signedIn(t.url, 'dave', DEMO_PASSWORD));
    const bye = await alice.submitForm('/_gateway/logout', '/_gateway/logout', {});
    assert.ok(bye.status < 400, `sign-out answered ${bye.status}`);
    assert.ok(await signedOut.closedWithin(10_000), 'the signed-out session’s WebSocket closed');
    assert.equal(bystander.ws.readyState, WebSocket.OPEN, 'another person’s WebSocket stays open');

    // Idle past the timeout (the clock moves; nothing waits for it): the periodic check ends it.
    t.clock.advance(t.config.session.idleTimeout + 1000);
    try {
      assert.ok(await bystander.closedWithin(15_000), 'the timed-out session’s WebSocket closed');
    } finally {
      t.clock.advance(-(t.config.session.idleTimeout + 1000));
    }
  });
});
