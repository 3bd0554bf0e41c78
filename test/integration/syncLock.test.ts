// The periodic sync's lock against real Redis: replicas ticking on their own clocks, with rounds
// that take longer than the interval.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startPeriodicSync, SYNC_LOCK_KEY } from '../../src/provisioning/syncScheduler.js';
import { silentLogger } from '../../src/shared/logger.js';
import { testRedisUrl } from '../support/gateway.js';

let redis: Redis;
before(async () => {
  redis = new Redis(testRedisUrl());
  await redis.del(SYNC_LOCK_KEY);
});
after(async () => {
  await redis.del(SYNC_LOCK_KEY);
  redis.disconnect();
});

test('a round longer than the interval is never joined by another replica, nor by its own next tick', async () => {
  let running = 0;
  let overlaps = 0;
  const rounds: string[] = [];
  const replicas = ['A', 'B', 'C'].map((name) =>
    startPeriodicSync({
      intervalMs: 1000,
      redis,
      logger: silentLogger(),
      run: async () => {
        running++;
        if (running > 1) overlaps++;
        rounds.push(name);
        await sleep(2600);
        running--;
      },
    }),
  );
  await sleep(9000);
  for (const stop of replicas) stop();
  while (running > 0) await sleep(100);
  assert.equal(overlaps, 0, `rounds ${rounds.join(',')} overlapped`);
  assert.ok(rounds.length >= 2, `rounds kept coming: ${rounds.join(',')}`);
  assert.ok(rounds.length <= 4, `no more rounds than 9 s of 2.6 s rounds allow: ${rounds.join(',')}`);
});
