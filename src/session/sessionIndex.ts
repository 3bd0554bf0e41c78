// Which sessions each person holds, so the console and the CLI can list and revoke them without scanning every key.
import type { Store } from 'express-session';
import type { RedisClient } from './createRedis.js';
import { announceEnded } from './sessionEvents.js';
import { storeOps, type StoredSession } from './sessionStore.js';

/** One Redis set per person (`sag:user-sessions:<username>`) plus the set of people who have any. */
export const USER_SESSIONS_PREFIX = 'sag:user-sessions:';
export const SESSION_USERS_KEY = 'sag:session-users';

export interface SessionSummary {
  sessionId: string;
  username: string;
  name?: string;
  clientAddress?: string;
  userAgent?: string;
  authenticatedAt?: number;
  lastSeenAt?: number;
  isAdmin: boolean;
}

/** Usernames are compared case-insensitively everywhere else (AD), so the index key is lower case. */
const keyOf = (username: string) => USER_SESSIONS_PREFIX + username.trim().toLowerCase();

export class SessionIndex {
  private readonly memory = new Map<string, Set<string>>();

  constructor(private readonly redis: RedisClient | null) {}

  async add(username: string, sessionId: string): Promise<void> {
    const user = username.trim().toLowerCase();
    if (!this.redis) {
      const set = this.memory.get(user) ?? new Set<string>();
      set.add(sessionId);
      this.memory.set(user, set);
      return;
    }
    // Two commands, not one MULTI: the keys live in different hash slots on Redis Cluster, and a MULTI's
    // per-command errors (a refused write) resolve quietly instead of failing the sign-in that depends on them.
    // The person's own set first, so a sign-out or revocation by name finds the session even if the second write is lost.
    await this.redis.sadd(keyOf(user), sessionId);
    await this.redis.sadd(SESSION_USERS_KEY, user);
  }

  async remove(username: string, sessionIds: string[]): Promise<void> {
    const user = username.trim().toLowerCase();
    if (!this.redis) {
      const set = this.memory.get(user);
      for (const id of sessionIds) set?.delete(id);
      if (set && set.size === 0) this.memory.delete(user);
      return;
    }
    if (sessionIds.length) await this.redis.srem(keyOf(user), ...sessionIds);
    // A person with no session left drops out of the listing; a sign-in racing this re-adds them.
    if ((await this.redis.scard(keyOf(user))) === 0) await this.redis.srem(SESSION_USERS_KEY, user);
  }

  async users(): Promise<string[]> {
    if (!this.redis) return [...this.memory.keys()].sort();
    return (await this.redis.smembers(SESSION_USERS_KEY)).sort();
  }

  /** Tells every replica these sessions have ended, so none serves them from its cache. */
  async announceEnded(sessionIds: readonly string[]): Promise<void> {
    await announceEnded(this.redis, sessionIds);
  }

  async ids(username: string): Promise<string[]> {
    const user = username.trim().toLowerCase();
    if (!this.redis) return [...(this.memory.get(user) ?? [])];
    return this.redis.smembers(keyOf(user));
  }
}

function summarise(sessionId: string, username: string, s: StoredSession): SessionSummary {
  const identity = s.passport?.user;
  return {
    sessionId,
    username: identity?.username ?? username,
    ...(identity?.name ? { name: identity.name } : {}),
    ...(s.clientAddress ? { clientAddress: s.clientAddress } : {}),
    ...(s.userAgent ? { userAgent: s.userAgent } : {}),
    ...(s.authenticatedAt ? { authenticatedAt: s.authenticatedAt } : {}),
    ...(s.lastSeenAt ? { lastSeenAt: s.lastSeenAt } : {}),
    isAdmin: !!identity?.isAdmin,
  };
}

/**
 * Live sessions, newest sign-in first. Ids whose record is gone (expired, signed out, revoked) are
 * removed from the index as they are found, so the index never needs its own expiry.
 */
export async function listSessions(index: SessionIndex, store: Store, opts: { user?: string } = {}): Promise<SessionSummary[]> {
  const users = opts.user ? [opts.user.trim().toLowerCase()] : await index.users();
  const out: SessionSummary[] = [];
  for (const user of users) {
    const ids = await index.ids(user);
    const dead: string[] = [];
    for (const id of ids) {
      const record = await storeOps.get(store, id);
      if (!record?.passport?.user) dead.push(id);
      else out.push(summarise(id, user, record));
    }
    await index.remove(user, dead);
  }
  return out.sort((a, b) => (b.authenticatedAt ?? 0) - (a.authenticatedAt ?? 0));
}

/**
 * Ends every session of `username` in the shared store, announces it to every replica (each drops
 * them from its cache at once) and returns their ids.
 */
export async function revokeSessions(index: SessionIndex, store: Store, username: string): Promise<string[]> {
  const ids = await index.ids(username);
  for (const id of ids) await storeOps.destroy(store, id);
  await index.remove(username, ids);
  // Without the announcement a replica still serves them from its cache for at most 2 s.
  await index.announceEnded(ids).catch(() => undefined);
  return ids;
}
