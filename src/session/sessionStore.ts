// The session store shared by express-session (gateway pages) and the proxy fast path: Redis, or memory for development.
import session, { type SessionData, type Store } from 'express-session';
import { RedisStore } from 'connect-redis';
import type { RedisClient } from '../redis/createRedis.js';
import type { GatewaySessionFields, Identity } from './identity.js';

export const SESSION_PREFIX = 'sag:sess:';

/** The JSON stored per session: express-session's cookie, passport's user, and our timestamps. */
export type StoredSession = SessionData & GatewaySessionFields & { passport?: { user?: Identity } };

export interface StoreTimeouts {
  idleMs: number;
  absoluteMs: number;
}

/** Redis forgets a session at whichever comes first: the idle timeout or the absolute one. */
function ttlSeconds(sess: StoredSession, t: StoreTimeouts): number {
  const started = sess.authenticatedAt ?? Date.now();
  const remainingAbsolute = started + t.absoluteMs - Date.now();
  return Math.max(1, Math.ceil(Math.min(t.idleMs, remainingAbsolute) / 1000));
}

/**
 * connect-redis plus one conditional write. Its own `set` is a plain `SET … EX` that would bring a
 * revoked record back; its `touch` is an `EXPIRE`, which cannot (EXPIRE on a missing key does nothing).
 */
class GatewayRedisStore extends RedisStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly timeouts: StoreTimeouts,
  ) {
    super({ client: redis, prefix: SESSION_PREFIX, ttl: (sess: StoredSession) => ttlSeconds(sess, timeouts) });
  }

  /** `SET … XX`: writes only while the record still exists, in one step Redis cannot interleave with a DEL. */
  async updateIfPresent(sid: string, sess: StoredSession): Promise<boolean> {
    const done = await this.redis.set(SESSION_PREFIX + sid, JSON.stringify(sess), 'EX', ttlSeconds(sess, this.timeouts), 'XX');
    return done === 'OK';
  }
}

/** express-session's MemoryStore keeps its records in a plain object; reading and writing it is synchronous. */
interface MemoryStoreInternals {
  sessions: Record<string, string>;
}

export function createSessionStore(redis: RedisClient | null, t: StoreTimeouts): Store {
  if (!redis) return new session.MemoryStore();
  return new GatewayRedisStore(redis, t);
}

const STORE_TIMEOUT_MS = 4000;

function withTimeout<T>(run: (cb: (err: unknown, value?: T) => void) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('session store timed out')), STORE_TIMEOUT_MS);
    run((err, value) => {
      clearTimeout(timer);
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(value);
    });
  });
}

/** Promise wrappers with a deadline, so a hung store can never hang a request past the fail-closed budget. */
export const storeOps = {
  get: (store: Store, sid: string) => withTimeout<StoredSession | null>((cb) => store.get(sid, (e, s) => cb(e, (s as StoredSession | null | undefined) ?? null))),
  set: (store: Store, sid: string, sess: StoredSession) => withTimeout<void>((cb) => store.set(sid, sess, (e) => cb(e))),
  /**
   * Rewrites an existing record and never creates one: false when it has gone (signed out, revoked,
   * expired) since it was read, so a revocation landing between the read and this write wins.
   */
  updateIfPresent: async (store: Store, sid: string, sess: StoredSession): Promise<boolean> => {
    if (store instanceof GatewayRedisStore) {
      const p = store.updateIfPresent(sid, sess);
      return (await withTimeout<boolean>((cb) => p.then((v) => cb(null, v), cb))) ?? false;
    }
    // The memory store lives in this process: the check and the write happen in one synchronous step.
    const memory = store as unknown as Partial<MemoryStoreInternals>;
    if (!memory.sessions || !Object.hasOwn(memory.sessions, sid)) return false;
    await withTimeout<void>((cb) => store.set(sid, sess, (e) => cb(e)));
    return true;
  },
  destroy: (store: Store, sid: string) => withTimeout<void>((cb) => store.destroy(sid, (e) => cb(e))),
  all: (store: Store) =>
    withTimeout<(StoredSession & { id?: string })[] | Record<string, StoredSession>>((cb) => {
      if (!store.all) return cb(null, []);
      store.all((e, list) => cb(e, (list ?? []) as (StoredSession & { id?: string })[] | Record<string, StoredSession>));
    }),
};
