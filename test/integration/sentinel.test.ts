// Redis Sentinel failover under a signed-in session: a master, a replica and three sentinels on free
// ports, the gateway on redis+sentinel://, then `SENTINEL failover`. The session must survive and
// requests keep working after a short blip (a few 503s are fine; a login redirect or 401 is not).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { startServerProcess } from '../../src/dev/serverProcess.js';
import { answeredBy } from '../../src/dev/redisServer.js';
import { SESSION_PREFIX } from '../../src/session/sessionStore.js';
import { Client, startTestGateway, type TestGateway } from '../support/gateway.js';

const MASTER_NAME = 'mymaster';
const processes: ChildProcess[] = [];
let dir: string;
let masterPort: number;
let replicaPort: number;
const sentinelPorts: number[] = [];
let t: TestGateway;

/** Starts redis-server (or a sentinel) on a port picked as free, retried on another if it was taken meanwhile. */
async function start(what: string, args: (port: number) => string[]): Promise<number> {
  const started = await startServerProcess({ what, command: 'redis-server', args, ready: (port, pid) => once(port, (r) => answeredBy(r, pid)), installHint: 'apt-get install redis-server redis-sentinel' });
  processes.push(started.proc);
  return started.port;
}

function client(port: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  return r;
}

/** Runs one command on a fresh connection, so a killed or reconfigured server never wedges the test's own client. */
async function once<T>(port: number, run: (r: Redis) => Promise<T>): Promise<T> {
  const r = client(port);
  try {
    await r.connect();
    return await run(r);
  } finally {
    r.disconnect();
  }
}

// At most a minute: a busy machine is slow to sync a replica or spread a sentinel's news.
async function until<T>(what: string, probe: () => Promise<T | undefined>, tries = 600): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`gave up waiting for ${what}`);
}

const masterAddr = (sentinel: number) => once(sentinel, (r) => r.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME) as Promise<[string, string]>);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sag-sentinel-'));
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  masterPort = await start('the master', (port) => ['--port', String(port), ...common, '--dbfilename', 'master.rdb']);
  replicaPort = await start('the replica', (port) => ['--port', String(port), ...common, '--dbfilename', 'replica.rdb', '--replicaof', '127.0.0.1', String(masterPort)]);
  await until('the replica to sync', () =>
    once(replicaPort, async (r) => ((await r.info('replication')).includes('master_link_status:up') ? true : undefined)),
  );
  for (let i = 0; i < 3; i++) {
    // Sentinel rewrites its config file as it learns the topology, so each gets its own writable copy.
    const conf = join(dir, `sentinel-${i}.conf`);
    const port = await start(`sentinel ${i}`, (port) => {
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      return [conf, '--sentinel'];
    });
    sentinelPorts.push(port);
  }
  // Every sentinel knows the replica before we rely on a failover to it.
  for (const s of sentinelPorts) {
    await until(`sentinel ${s} to see the replica`, () =>
      once(s, async (r) => {
        const replicas = (await r.call('SENTINEL', 'replicas', MASTER_NAME)) as string[][];
        return replicas.length > 0 ? true : undefined;
      }),
    );
  }
  const url = `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER_NAME}`;
  t = await startTestGateway({}, { redisUrl: url });
});

after(async () => {
  await t?.close();
  for (const p of processes) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('Sentinel failover', () => {
  test('the session survives a forced failover and requests recover without a login redirect', async () => {
    const alice = new Client(t.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    assert.equal((await alice.get('/organizations/acme/', { accept: 'application/json' })).status, 200);
    // Replication is asynchronous: make sure the replica holds the session before promoting it.
    await once(masterPort, async (r) => {
      assert.ok(Number(await r.call('WAIT', '1', '2000')) >= 1, 'the replica acknowledged the writes');
      assert.ok((await r.keys(`${SESSION_PREFIX}*`)).length >= 1, 'the session is in the master');
    });

    await until('sentinel to accept the failover', () => once(sentinelPorts[0]!, (r) => r.call('SENTINEL', 'failover', MASTER_NAME)));
    const statuses: number[] = [];
    let switched = false;
    let okAfterSwitch = 0;
    for (let i = 0; i < 200 && okAfterSwitch < 10; i++) {
      // Past the replica's short in-process cache, so every request reads Redis; every 20th crosses
      // the once-a-minute idle write too.
      t.clock.advance(3_000);
      const res = await alice.get('/organizations/acme/issues/', { accept: 'application/json' });
      statuses.push(res.status);
      await res.arrayBuffer();
      if (!switched) switched = (await masterAddr(sentinelPorts[1]!).catch(() => ['', '']))[1] === String(replicaPort);
      else if (res.status === 200) okAfterSwitch++;
      await sleep(50);
    }
    assert.ok(switched, 'the sentinels promoted the replica');
    const bad = statuses.filter((s) => s !== 200 && s !== 503);
    assert.deepEqual(bad, [], `only 200s and short-lived 503s: ${statuses.join(' ')}`);
    assert.ok(okAfterSwitch >= 10, `requests work again after the switch: ${statuses.join(' ')}`);
    const blip = statuses.filter((s) => s === 503).length;
    assert.ok(blip <= statuses.length / 2, `the blip stayed short: ${statuses.join(' ')}`);

    // Sentinel turns the old master into a replica once the new one is up; until then a client that has not
    // switched yet could still write to the old one, so the write check waits for that.
    await until('the old master to become a replica', () =>
      once(masterPort, async (r) => ((await r.info('replication')).includes('role:slave') ? true : undefined)),
    );
    // Writes go to the new master: a fresh sign-in works (after at most a few 503s) and lands there.
    const bob = new Client(t.url);
    const signIns: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await bob.login('bob', DEMO_PASSWORD);
      signIns.push(res.status);
      if (res.status === 303) break;
      await sleep(200);
    }
    assert.equal(signIns.at(-1), 303, `sign-in after the failover: ${signIns.join(' ')}`);
    assert.equal((await bob.get('/organizations/acme/', { accept: 'application/json' })).status, 200);
    t.clock.advance(3_000);
    assert.equal((await alice.get('/organizations/acme/', { accept: 'application/json' })).status, 200, 'alice is still signed in');
    await once(replicaPort, async (r) => {
      assert.match(await r.info('replication'), /role:master/);
      const keys = await r.keys(`${SESSION_PREFIX}*`);
      assert.ok(keys.length >= 2, `both sessions are on the new master: ${keys.join(', ')}`);
    });
  });
});
