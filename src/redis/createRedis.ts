// Builds the one Redis client the process shares, from redis://, rediss://, redis+sentinel:// or redis+cluster:// URLs.
import { Redis, Cluster, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** Commands fail fast instead of queueing while Redis is away, so session checks fail closed within seconds. */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 2000,
  connectTimeout: 3000,
  retryStrategy: (times) => Math.min(200 * times, 2000),
};

function hostsOf(list: string): { host: string; port: number }[] {
  return list.split(',').map((h) => {
    const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(h.trim());
    if (!m) throw new TypeError(`bad Redis host: ${h}`);
    return { host: m[1] as string, port: m[2] ? Number(m[2]) : 6379 };
  });
}

export function createRedis(url: string, extra: RedisOptions = {}): RedisClient {
  // URL cannot parse a host list ('h1:p1,h2:p2' is an invalid host): read credentials and path with the first host only.
  const firstHostOnly = url.replace(/^(redis\+(?:sentinel|cluster):\/\/(?:[^@/]*@)?[^,/]*)[^/]*/, '$1');
  const u = new URL(firstHostOnly.replace(/^redis\+(sentinel|cluster):/, 'http:'));
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  if (url.startsWith('redis+sentinel://')) {
    // redis+sentinel://[:password@]host:port[,host:port]/masterName[/db]
    const [, name, db] = u.pathname.split('/');
    if (!name) throw new TypeError('redis+sentinel:// URL needs the master name as its path');
    const authority = url.slice('redis+sentinel://'.length).split('/')[0]!.replace(/^.*@/, '');
    return new Redis({ ...FAIL_FAST, ...extra, sentinels: hostsOf(authority), name, password, username, sentinelPassword: password, db: db ? Number(db) : 0 });
  }
  if (url.startsWith('redis+cluster://')) {
    const authority = url.slice('redis+cluster://'.length).split('/')[0]!.replace(/^.*@/, '');
    // The slot map is re-read every 5 s, not only after a MOVED: promoted replicas join the node list before the next
    // failover, so the client (and its pub/sub connection) never holds a list of nodes that have all gone.
    return new Cluster(hostsOf(authority), { enableOfflineQueue: false, slotsRefreshInterval: 5000, redisOptions: { ...FAIL_FAST, ...extra, password, username } });
  }
  return new Redis(url, { ...FAIL_FAST, ...extra });
}
