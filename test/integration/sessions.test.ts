// Session administration from the shell: `sessions list` and `sessions revoke` against the same Redis the gateway uses.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { USER_SESSIONS_PREFIX } from '../../src/session/sessionIndex.js';
import { signedIn } from '../support/adminHelpers.js';
import { runCli, type CliRun } from '../support/cli.js';
import { Client, startTestGateway, type TestGateway } from '../support/gateway.js';

let t: TestGateway;
before(async () => {
  t = await startTestGateway();
});
after(() => t?.close());

const cli = (args: string[]): Promise<CliRun> => runCli([...args, '--config', t.configFile]);

interface Listed {
  sessions: { username: string; clientAddress?: string; userAgent?: string; authenticatedAt: string; sessionId?: string }[];
}

describe('sessions list / revoke', () => {
  test('list shows who is signed in, from where and since when; revoke ends them on the next request', async () => {
    const [b1, b2] = await Promise.all([signedIn(t.url, 'bob', DEMO_PASSWORD), signedIn(t.url, 'bob@staff.example.org', DEMO_PASSWORD)]);
    const carol = await signedIn(t.url, 'carol', DEMO_PASSWORD);

    const listed = await cli(['sessions', 'list', '--user', 'bob', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const out = JSON.parse(listed.stdout) as Listed;
    assert.ok(out.sessions.length >= 2, 'both of bob’s sessions, whichever name he typed');
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
    assert.equal(await t.gw.deps.redis!.scard(`${USER_SESSIONS_PREFIX}bob`), 0, 'the index forgot them');

    const json = await cli(['sessions', 'revoke', '--user', 'bob', '--json']);
    assert.deepEqual(JSON.parse(json.stdout), { user: 'bob', revoked: 0 });
  });

  test('signing out removes the session from the index; dead ids are dropped when listing', async () => {
    // Other suites in the run may have left dave sessions of their own: look only at this one.
    const key = `${USER_SESSIONS_PREFIX}dave`;
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

  test('usage errors exit 2', async () => {
    assert.equal((await cli(['sessions', 'revoke'])).code, 2);
    assert.equal((await cli(['sessions', 'frobnicate'])).code, 2);
    assert.ok(new Client(t.url));
  });
});
