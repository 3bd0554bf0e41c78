// Redis URLs with host lists (Sentinel, Cluster) parse into every host, the master name, db and credentials.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { createRedis } from '../../src/redis/createRedis.js';

test('redis+sentinel:// with three sentinels, a password, a master name and a db', () => {
  const r = createRedis('redis+sentinel://:p%40ss@127.0.0.1:26379,10.0.0.2:26380,[::1]:26381/mymaster/2', { lazyConnect: true }) as Redis;
  try {
    assert.deepEqual(r.options.sentinels, [
      { host: '127.0.0.1', port: 26379 },
      { host: '10.0.0.2', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
    assert.equal(r.options.name, 'mymaster');
    assert.equal(r.options.db, 2);
    assert.equal(r.options.password, 'p@ss');
  } finally {
    r.disconnect();
  }
});

test('redis+cluster:// with a host list', () => {
  const c = createRedis('redis+cluster://127.0.0.1:7000,127.0.0.1:7001', { lazyConnect: true }) as Cluster;
  try {
    assert.deepEqual((c as unknown as { startupNodes: unknown }).startupNodes, [
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ]);
  } finally {
    c.disconnect();
  }
});
