// The session store shared by express-session (gateway pages) and the proxy fast path: Redis, or memory for development.
import session, { type SessionData, type Store } from 'express-session';
import { RedisStore } from 'connect-redis';
import type { RedisClient } from './createRedis.js';
import type { GatewaySessionFields, Identity } from './identity.js';

export const SESSION_PREFIX = 'sag:sess:';

/** The JSON stored per session: express-session's cookie, passport's user, and our timestamps. */
export type StoredSession = SessionData & GatewaySessionFields & { passport?: { user?: Identity } };

export interface StoreTimeouts {
  idleMs: number;
  absoluteMs: number;
}

export function createSessionStore(redis: RedisClient | null, t: StoreTimeouts): Store {
  if (!redis) return new session.MemoryStore();
  return new RedisStore({
    client: redis,
    prefix: SESSION_PREFIX,
    // Redis forgets a session at whichever comes first: the idle timeout or the absolute one.
    ttl: (sess: StoredSession) => {
      const started = sess.authenticatedAt ?? Date.now();
      const remainingAbsolute = started + t.absoluteMs - Date.now();
      return Math.max(1, Math.ceil(Math.min(t.idleMs, remainingAbsolute) / 1000));
    },
  });
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
  destroy: (store: Store, sid: string) => withTimeout<void>((cb) => store.destroy(sid, (e) => cb(e))),
  all: (store: Store) =>
    withTimeout<(StoredSession & { id?: string })[] | Record<string, StoredSession>>((cb) => {
      if (!store.all) return cb(null, []);
      store.all((e, list) => cb(e, (list ?? []) as (StoredSession & { id?: string })[] | Record<string, StoredSession>));
    }),
};
