// Which sessions each person holds, so the console and the CLI can list and revoke them without scanning every key.
import { createHash } from 'node:crypto';
import type { Store } from 'express-session';
import type { RedisClient } from '../redis/createRedis.js';
import { announceEnded } from './sessionEvents.js';
import { storeOps, type StoredSession } from './sessionStore.js';

/**
 * One Redis set per person, keyed by their objectGUID (the assertion's `sub`), which survives a rename in AD:
 * `sag:person-sessions:<guid>`, plus the set of people who have any.
 */
export const PERSON_SESSIONS_PREFIX = 'sag:person-sessions:';
export const SESSION_PEOPLE_KEY = 'sag:session-people';
/**
 * The index before it was keyed by objectGUID: one set per lower-case username. Sessions found there are moved to
 * the objectGUID index (read from each session's own record) at start and before every listing or revocation,
 * so a session written by an earlier version, or by one still running beside this one, stays revocable.
 */
export const LEGACY_USER_SESSIONS_PREFIX = 'sag:user-sessions:';
export const LEGACY_SESSION_USERS_KEY = 'sag:session-users';

export interface SessionSummary {
  sessionId: string;
  /** The person's objectGUID. */
  sub: string;
  /** The account name the session was signed in (or last re-checked) under. */
  username: string;
  name?: string;
  clientAddress?: string;
  userAgent?: string;
  authenticatedAt?: number;
  lastSeenAt?: number;
  isAdmin: boolean;
}

/**
 * Revoked sessions (`sag:revoked-session:<SHA-256 of the id>`): the sign-in page tells a cookie whose session was
 * revoked (no automatic Kerberos sign-in: it would undo the revocation) from one that merely expired (signed in
 * again as usual). Kept as long as a session may live (session.absoluteTimeout; its default unless told).
 */
export const REVOKED_PREFIX = 'sag:revoked-session:';
export const DEFAULT_REVOKED_TTL_MS = 7 * 24 * 3600_000;
const revokedKey = (sessionId: string) => REVOKED_PREFIX + createHash('sha256').update(sessionId).digest('hex');

/** objectGUIDs are compared in lower case. */
const norm = (sub: string) => sub.trim().toLowerCase();
const keyOf = (sub: string) => PERSON_SESSIONS_PREFIX + norm(sub);

export class SessionIndex {
  private readonly memory = new Map<string, Set<string>>();
  private readonly revokedInMemory = new Map<string, number>();

  constructor(
    private readonly redis: RedisClient | null,
    private readonly revokedTtlMs = DEFAULT_REVOKED_TTL_MS,
  ) {}

  /** Remembers these sessions as revoked (not expired, not signed out by their holder), by hash only. */
  async recordRevoked(sessionIds: readonly string[]): Promise<void> {
    if (!this.redis) {
      for (const id of sessionIds) this.revokedInMemory.set(revokedKey(id), Date.now() + this.revokedTtlMs);
      return;
    }
    // One command per key: on Redis Cluster they live in different hash slots.
    for (const id of sessionIds) await this.redis.set(revokedKey(id), '1', 'PX', this.revokedTtlMs);
  }

  /** Whether the session was revoked (within the TTL). Throws when Redis cannot say. */
  async wasRevoked(sessionId: string): Promise<boolean> {
    const key = revokedKey(sessionId);
    if (!this.redis) return (this.revokedInMemory.get(key) ?? 0) > Date.now();
    return (await this.redis.exists(key)) === 1;
  }

  async add(sub: string, sessionId: string): Promise<void> {
    const person = norm(sub);
    if (!person) throw new Error('a session is indexed under the person\'s objectGUID, and this one has none');
    if (!this.redis) {
      const set = this.memory.get(person) ?? new Set<string>();
      set.add(sessionId);
      this.memory.set(person, set);
      return;
    }
    // Two commands, not one MULTI: the keys live in different hash slots on Redis Cluster, and a MULTI's
    // per-command errors (a refused write) resolve quietly instead of failing the sign-in that depends on them.
    // The person's own set first, so a sign-out or revocation finds the session even if the second write is lost.
    await this.redis.sadd(keyOf(person), sessionId);
    await this.redis.sadd(SESSION_PEOPLE_KEY, person);
  }

  async remove(sub: string, sessionIds: string[]): Promise<void> {
    const person = norm(sub);
    if (!this.redis) {
      const set = this.memory.get(person);
      for (const id of sessionIds) set?.delete(id);
      if (set && set.size === 0) this.memory.delete(person);
      return;
    }
    if (sessionIds.length) await this.redis.srem(keyOf(person), ...sessionIds);
    // A person with no session left drops out of the listing; a sign-in racing this re-adds them.
    if ((await this.redis.scard(keyOf(person))) === 0) await this.redis.srem(SESSION_PEOPLE_KEY, person);
  }

  /** The objectGUIDs of everyone with a session. */
  async people(): Promise<string[]> {
    if (!this.redis) return [...this.memory.keys()].sort();
    return (await this.redis.smembers(SESSION_PEOPLE_KEY)).sort();
  }

  /** Tells every replica these sessions have ended, so none serves them from its cache. */
  async announceEnded(sessionIds: readonly string[]): Promise<void> {
    await announceEnded(this.redis, sessionIds);
  }

  async ids(sub: string): Promise<string[]> {
    if (!this.redis) return [...(this.memory.get(norm(sub)) ?? [])];
    return this.redis.smembers(keyOf(sub));
  }

  /**
   * Moves sessions indexed by username (an earlier version's index) under their person's objectGUID, read from
   * each session's record; ids whose record is gone are dropped. Returns how many were moved.
   */
  async migrateLegacy(store: Store): Promise<number> {
    if (!this.redis) return 0;
    let moved = 0;
    for (const user of await this.redis.smembers(LEGACY_SESSION_USERS_KEY)) {
      const key = LEGACY_USER_SESSIONS_PREFIX + user;
      const ids = await this.redis.smembers(key);
      for (const id of ids) {
        const sub = (await storeOps.get(store, id))?.passport?.user?.sub;
        if (sub) {
          await this.add(sub, id);
          moved++;
        }
      }
      if (ids.length) await this.redis.srem(key, ...ids);
      if ((await this.redis.scard(key)) === 0) await this.redis.srem(LEGACY_SESSION_USERS_KEY, user);
    }
    return moved;
  }
}

function summarise(sessionId: string, sub: string, s: StoredSession): SessionSummary {
  const identity = s.passport?.user;
  return {
    sessionId,
    sub,
    username: identity?.username ?? '',
    ...(identity?.name ? { name: identity.name } : {}),
    ...(s.clientAddress ? { clientAddress: s.clientAddress } : {}),
    ...(s.userAgent ? { userAgent: s.userAgent } : {}),
    ...(s.authenticatedAt ? { authenticatedAt: s.authenticatedAt } : {}),
    ...(s.lastSeenAt ? { lastSeenAt: s.lastSeenAt } : {}),
    isAdmin: !!identity?.isAdmin,
  };
}

/**
 * Live sessions, newest sign-in first, of everyone or of the people (objectGUIDs) given. Ids whose record is gone
 * (expired, signed out, revoked) are removed from the index as they are found, so the index needs no expiry.
 */
export async function listSessions(index: SessionIndex, store: Store, opts: { subs?: string[] } = {}): Promise<SessionSummary[]> {
  await index.migrateLegacy(store);
  const people = opts.subs ? opts.subs.map(norm) : await index.people();
  const out: SessionSummary[] = [];
  for (const sub of people) {
    const ids = await index.ids(sub);
    const dead: string[] = [];
    for (const id of ids) {
      const record = await storeOps.get(store, id);
      if (!record?.passport?.user) dead.push(id);
      else out.push(summarise(id, sub, record));
    }
    await index.remove(sub, dead);
  }
  return out.sort((a, b) => (b.authenticatedAt ?? 0) - (a.authenticatedAt ?? 0));
}

/** The objectGUIDs of people whose live sessions were signed in under `username` (when AD cannot name them). */
export async function peopleWithSessionsNamed(index: SessionIndex, store: Store, username: string): Promise<string[]> {
  const name = username.trim().normalize('NFC').toLowerCase();
  const all = await listSessions(index, store);
  return [...new Set(all.filter((s) => s.username.normalize('NFC').toLowerCase() === name).map((s) => s.sub))];
}

/**
 * Ends every session of the person with objectGUID `sub` in the shared store, announces it to every replica
 * (each drops them from its cache at once) and returns their ids.
 */
export async function revokeSessions(index: SessionIndex, store: Store, sub: string): Promise<string[]> {
  await index.migrateLegacy(store);
  const ids = await index.ids(sub);
  // Recorded first: a browser coming back between the two is already told apart from an expired session.
  await index.recordRevoked(ids);
  for (const id of ids) await storeOps.destroy(store, id);
  await index.remove(sub, ids);
  // Without the announcement a replica still serves them from its cache for at most 2 s.
  await index.announceEnded(ids).catch(() => undefined);
  return ids;
}
