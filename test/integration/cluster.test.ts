// Redis Cluster failover under live traffic: three masters with a replica each (redis-server, cluster-enabled, on
// free ports), two gateway replicas on redis+cluster://, then a master killed with SIGKILL while requests flow.
// Sessions, throttle counts, the provisioning retry queue and the ended-session announcements must survive it;
// while the cluster heals requests may get 503, never a login redirect or a 401, and they recover unaided.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO_PASSWORD, USERS } from '../../src/dev/fixtures.js';
import { startRedisCluster, waitFor, type ClusterNode, type RedisCluster } from '../../src/dev/redisCluster.js';
import { LEGACY_JOBS_KEY, LEGACY_QUEUE_KEY, QUEUE_KEY, RedisRetryQueue, type ProvisionJob } from '../../src/provisioning/retryQueue.js';
import { SyncRunStore, type SyncRun } from '../../src/provisioning/syncRuns.js';
import { createRedis, type RedisClient } from '../../src/redis/createRedis.js';
import { SESSIONS_ENDED_CHANNEL } from '../../src/session/sessionEvents.js';
import { SESSION_PREFIX } from '../../src/session/sessionStore.js';
import { assertNoViolations, startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { Client, sharedReplicaConfig, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const TOKEN = 'sntryu_cluster_test_token';
/** The key of an unknown name's failure count (src/auth/throttle.ts prefix + the login's account key: the name's keyed hash). */
const throttleKey = (name: string) => `sag:throttle:user:name:${a.gw.deps.names.hash(name)}`;

let cluster: RedisCluster;
/** The masters the cluster was made with: by the end of the suite every one of them has been killed. */
let firstMasters: ClusterNode[];
let fake: FakeSentry;
let a: TestGateway;
let b: TestGateway;
let redis: RedisClient;
let dir: string;

before(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1000 });
  firstMasters = await cluster.masters();
  fake = await startFakeSentry({ organization: 'acme', token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
  dir = mkdtempSync(join(tmpdir(), 'sag-cluster-'));
  const shared = sharedReplicaConfig(dir, { url: fake.url, token: TOKEN }, '0');
  a = await startTestGateway(shared, { redisUrl: cluster.url });
  b = await startTestGateway(shared, { redisUrl: cluster.url });
  redis = createRedis(cluster.url);
  redis.on('error', () => undefined);
  await waitFor('the test client to connect', async () => (redis.status === 'ready' ? true : undefined));
});

after(async () => {
  redis?.disconnect();
  await a?.close();
  await b?.close();
  if (fake) {
    assertNoViolations(fake);
    await fake.close();
  }
  await cluster?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function sessionIdOf(c: Client, t: TestGateway): string {
  const raw = decodeURIComponent(c.cookies.get(t.config.session.cookieName) ?? '');
  assert.ok(raw.startsWith('s:'), 'a signed session cookie');
  return raw.slice(2, raw.lastIndexOf('.'));
}

async function status(c: Client, path = '/organizations/acme/issues/'): Promise<number> {
  const res = await c.get(path, { accept: 'application/json' });
  await res.arrayBuffer();
  return res.status;
}

/** Where the ended-session subscriptions live: port → subscribers on that node (PUBSUB NUMSUB is per node in a cluster). */
async function subscribers(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const n of cluster.nodes.filter((x) => x.running)) {
    const [, count] = (await cluster.on(n.port, (r) => r.call('PUBSUB', 'NUMSUB', SESSIONS_ENDED_CHANNEL))) as [string, number];
    if (Number(count) > 0) out.set(n.port, Number(count));
  }
  return out;
}

describe('Redis Cluster: a master killed mid-traffic', () => {
  let victim: ClusterNode;
  let alice: Client;
  let aliceSid = '';
  let ghost = '';

  test('sign-in, the session index, throttling and the retry queue work on a cluster', async () => {
    // The master that holds the retry queue dies; the session and a throttle count are placed on it too.
    victim = await cluster.masterOf(QUEUE_KEY);
    await fake.setFault('refuse');
    for (let i = 0; i < 30; i++) {
      const c = new Client(a.url);
      assert.equal((await c.login('alice', DEMO_PASSWORD)).status, 303, 'sign-in on a cluster, with Sentry down');
      const sid = sessionIdOf(c, a);
      if ((await cluster.masterOf(SESSION_PREFIX + sid)) === victim) {
        alice = c;
        aliceSid = sid;
        break;
      }
    }
    assert.ok(aliceSid, 'a session landed on the master that will be killed');
    assert.equal(await status(alice), 200);
    const aliceGuid = (await a.gw.deps.directory.lookup('alice'))!.guid.toLowerCase();
    assert.ok((await a.gw.deps.sessions.ids(aliceGuid)).includes(aliceSid), 'the session is in the per-person index');
    assert.ok((await a.gw.deps.sessions.people()).includes(aliceGuid), 'and alice in the list of people with sessions');
    assert.notEqual(await redis.zscore(QUEUE_KEY, USERS.alice.email.toLowerCase()), null, 'the membership change waits in the retry queue');

    for (let i = 0; i < 100 && !ghost; i++) {
      const name = `ghost-${randomBytes(4).toString('hex')}`;
      if ((await cluster.masterOf(throttleKey(name))) === victim) ghost = name;
    }
    assert.ok(ghost, 'a name whose throttle count lives on the master that will be killed');
    // 3 of the 5 failures allowed (min(5, lockoutThreshold 10 − 2)), on both replicas.
    for (const gw of [a, b, a]) assert.equal((await new Client(gw.url).login(ghost, 'wrong-password')).status, 401);
    assert.equal(await cluster.on(victim.port, (r) => r.exists(throttleKey(ghost))), 1, 'the count is on the master that will be killed');
  });

  test('the session keeps working through the failover: only 200s and short-lived 503s, never a login redirect', async () => {
    assert.ok(aliceSid, 'the previous step signed in');
    // Replication is asynchronous: the replica must hold what the test expects to survive.
    assert.ok(Number(await cluster.on(victim.port, (r) => r.call('WAIT', '1', '2000'))) >= 1, 'the replica acknowledged the writes');
    const statuses: number[] = [];
    let switched = false;
    let okAfterSwitch = 0;
    for (let i = 0; i < 300 && okAfterSwitch < 10; i++) {
      // Past the replica's short in-process cache, so every request reads Redis; every 20th crosses
      // the once-a-minute idle write too.
      a.clock.advance(3_000);
      statuses.push(await status(alice));
      if (i === 3) await victim.stop();
      if (i > 3 && !switched) switched = await cluster.masterOf(QUEUE_KEY).then((m) => m !== victim && m.running, () => false);
      else if (switched && statuses.at(-1) === 200) okAfterSwitch++;
      await sleep(50);
    }
    assert.ok(switched, 'the replica took over the killed master');
    assert.deepEqual(
      statuses.filter((s) => s !== 200 && s !== 503),
      [],
      `only 200s and 503s: ${statuses.join(' ')}`,
    );
    assert.ok(okAfterSwitch >= 10, `requests work again after the failover: ${statuses.join(' ')}`);
    assert.ok(statuses.filter((s) => s === 503).length <= statuses.length / 2, `the blip stayed short: ${statuses.join(' ')}`);
    assert.ok((await a.gw.deps.sessions.ids((await a.gw.deps.directory.lookup('alice'))!.guid)).includes(aliceSid), 'the index still names the session');
    // Writes land on the new master: a fresh sign-in works.
    const bob = new Client(b.url);
    assert.equal((await bob.login('bob', DEMO_PASSWORD)).status, 303);
    assert.equal(await status(bob), 200);
  });

  test('the throttle count survived: two more failures, then 429 on either replica', async () => {
    assert.ok(ghost, 'the first step counted failures');
    assert.equal((await new Client(b.url).login(ghost, 'wrong-password')).status, 401);
    assert.equal((await new Client(a.url).login(ghost, 'wrong-password')).status, 401);
    for (const gw of [a, b]) assert.equal((await new Client(gw.url).login(ghost, 'wrong-password')).status, 429, 'the sixth attempt is refused');
  });

  test('the queued membership change survived and is applied once Sentry is back', async () => {
    const email = USERS.alice.email.toLowerCase();
    assert.notEqual(await redis.zscore(QUEUE_KEY, email), null, 'still queued on the promoted replica');
    await fake.setFault(null);
    // Replica b drains the same queue on its own (real-time) timer and may have leased or rescheduled the job
    // around the failover (while Sentry still refused): once the job is due on a's clock, a applies it, or
    // finds the change made, and drops it.
    await waitFor('alice provisioned from the queue and the job gone', async () => {
      a.clock.advance(61_000);
      await a.gw.deps.provisioner!.drainOnce();
      return fake.member(email) && (await redis.zscore(QUEUE_KEY, email)) === null ? true : undefined;
    });
    assert.ok(fake.member(email), 'alice was provisioned from the queue');
  });

  test('ended-session announcements still reach every replica once every master the cluster started with has died', async () => {
    // The first one died above; the other two die in turn, each after its replica took over (no restarts: the
    // cluster ends with three promoted replicas as masters, nodes the gateways never saw at start).
    for (const node of firstMasters.filter((n) => n.running)) {
      await node.stop();
      await cluster.healthy(30_000);
      await waitFor(`both gateways to listen again after ${node.port} died`, async () => {
        const now = await subscribers();
        return [...now.values()].reduce((x, y) => x + y, 0) === 2 ? true : undefined;
      });
    }
    assert.deepEqual(firstMasters.filter((n) => n.running), [], 'every first master is gone');

    const onA = new Client(a.url);
    assert.equal((await onA.login('carol', DEMO_PASSWORD)).status, 303);
    const onB = new Client(b.url);
    for (const [k, v] of onA.cookies) onB.cookies.set(k, v);
    assert.equal(await status(onA), 200, 'A has the session in its cache');
    const out = await onB.submitForm('/_gateway/logout', '/_gateway/logout', {});
    assert.ok(out.status < 400, `logout answered ${out.status}`);
    // Without the announcement A would trust its cached copy for 2 s.
    let after = 0;
    for (let i = 0; i < 20 && after !== 401; i++) {
      if (i > 0) await sleep(50);
      after = await status(onA);
    }
    assert.equal(after, 401, 'the session signed out on B is gone on A within a second');
  });
});

describe('Redis Cluster: what the admin console keeps', () => {
  test('a mapping rule edit is saved with its history, and a console sync run is recorded and listed', async () => {
    const cur = await a.gw.deps.rules.current();
    const saved = await a.gw.deps.rules.save({ defaultOrgRole: cur.defaultOrgRole, rules: cur.rules }, 'cluster-test', cur.version);
    assert.equal(saved.version, cur.version + 1);
    assert.equal((await a.gw.deps.rules.history(1))[0]?.version, cur.version, 'the replaced version is in the history');
    await assert.rejects(a.gw.deps.rules.save({ defaultOrgRole: cur.defaultOrgRole, rules: cur.rules }, 'cluster-test', cur.version), 'a stale version is refused');

    const runs = new SyncRunStore(redis);
    const ids = [randomBytes(8).toString('hex'), randomBytes(8).toString('hex')];
    for (const id of ids) {
      const run: SyncRun = { id, actor: 'cluster-test', startedAt: new Date().toISOString(), status: 'done', forced: false, stage: 'finished', done: 0 };
      await runs.save(run, true);
    }
    assert.deepEqual(
      (await runs.recent(2)).map((r) => r.id),
      [...ids].reverse(),
      'both runs listed, newest first',
    );
  });
});

describe('retry queue keys renamed for Cluster', () => {
  test('a job queued under the old key names on a single Redis is still claimed, and the old keys go', async () => {
    const single = createRedis(testRedisUrl());
    try {
      await waitFor('the single Redis client to connect', async () => (single.status === 'ready' ? true : undefined));
      const email = `legacy-${randomBytes(4).toString('hex')}@corp.example.com`;
      const job: ProvisionJob = { email, username: 'legacy', groups: [], attempts: 1, enqueuedAt: 0 };
      // Due long ago, so it is the first one claimed whatever other suites left in the shared Redis.
      await single.multi().hset(LEGACY_JOBS_KEY, email, JSON.stringify(job)).zadd(LEGACY_QUEUE_KEY, 0, email).exec();
      const queue = new RedisRetryQueue(single);
      assert.deepEqual((await queue.claimDue(Date.now(), 1)).map((j) => j.email), [email]);
      assert.equal(await single.exists(LEGACY_QUEUE_KEY, LEGACY_JOBS_KEY), 0, 'the old keys are gone');
      await queue.done(email);
      assert.equal(await single.zscore(QUEUE_KEY, email), null, 'and done with under the new names');
    } finally {
      single.disconnect();
    }
  });
});
