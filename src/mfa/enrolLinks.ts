// One-time enrolment links an admin issues for a person: a random token, stored only hashed, expiring, used once, audited.
import { createHash, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { RedisClient } from '../session/createRedis.js';
import type { AuditLog } from '../shared/audit.js';
import type { Clock } from '../shared/clock.js';
import { MFA_PREFIX, normaliseGuid, personKey } from './factorStore.js';

export const ENROL_LINK_TTL_MS = 24 * 60 * 60_000;
/** Where the link leads; the enrolment page takes the token from here. */
export const ENROL_LINK_PATH = '/_gateway/mfa/enrol';

/** What `issue` hands out: 32 random bytes, base64url. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const linkKey = (tokenHash: string) => `${MFA_PREFIX}link:${tokenHash}`;
const hashOf = (token: string) => createHash('sha256').update(`sag-mfa-link\0${token}`).digest('base64url');

// Used once, by the person it was issued to, before it expires (by the caller's clock): then it is gone.
// Someone else presenting it leaves it in place: a link is not spent by the wrong account opening it.
const CONSUME = `
local guid = redis.call('HGET', KEYS[1], 'guid')
if not guid then return nil end
if tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) <= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) return nil end
if guid ~= ARGV[1] then return false end
local v = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return v`;

export interface IssuedLink {
  url: string;
  expiresAt: number;
}

export class EnrolLinks {
  constructor(
    private readonly redis: RedisClient,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly publicUrl: string,
  ) {}

  /** A new link for the person; any earlier one of theirs stops working. The token is in the URL only, never stored or logged. */
  async issue(guid: string, opts: { username: string; actor: string; ttlMs?: number }): Promise<IssuedLink> {
    const g = normaliseGuid(guid);
    const ttl = opts.ttlMs ?? ENROL_LINK_TTL_MS;
    const token = randomBytes(32).toString('base64url');
    const h = hashOf(token);
    const expiresAt = this.clock.now() + ttl;
    const previous = await this.redis.get(personKey(g, 'link'));
    if (previous) await this.redis.del(linkKey(previous));
    await this.redis.hset(linkKey(h), { guid: g, username: opts.username, issuedBy: opts.actor, expiresAt: String(expiresAt) });
    await this.redis.pexpire(linkKey(h), ttl);
    await this.redis.set(personKey(g, 'link'), h, 'PX', ttl);
    this.audit.record({ kind: 'mfa.link_issued', user: opts.username, actor: opts.actor, detail: { guid: g, expiresAt: new Date(expiresAt).toISOString() } });
    const url = new URL(ENROL_LINK_PATH, this.publicUrl.replace(/\/?$/, '/'));
    url.searchParams.set('link', token);
    return { url: url.toString(), expiresAt };
  }

  /**
   * Whether the token is a live link for this person (known, naming this objectGUID, not expired by the clock), without
   * spending it: what gives the right to START an enrolment. Only `consume` spends it, and only before a factor is written.
   */
  async check(token: unknown, guid: string): Promise<boolean> {
    const g = normaliseGuid(guid);
    if (typeof token !== 'string' || !TOKEN.test(token)) return false;
    const [owner, expiresAt] = await this.redis.hmget(linkKey(hashOf(token)), 'guid', 'expiresAt');
    return owner === g && Number(expiresAt) > this.clock.now();
  }

  /** Spends the link for the signed-in person; throws GW_MFA_LINK_INVALID when it is unknown, expired, used, or another person's. */
  async consume(token: string, guid: string, address?: string): Promise<{ issuedBy: string }> {
    const g = normaliseGuid(guid);
    if (typeof token !== 'string' || !TOKEN.test(token)) throw new GatewayError('GW_MFA_LINK_INVALID', 'not an enrolment link');
    const r = (await this.redis.eval(CONSUME, 1, linkKey(hashOf(token)), g, String(this.clock.now()))) as string[] | null;
    if (!Array.isArray(r)) throw new GatewayError('GW_MFA_LINK_INVALID', 'unknown, expired, used or another person’s enrolment link');
    // The person's pointer to it lives in their own slot (Redis Cluster): dropped after, not inside, the atomic step.
    await this.redis.del(personKey(g, 'link')).catch(() => undefined);
    const v: Record<string, string> = {};
    for (let i = 0; i + 1 < r.length; i += 2) v[r[i] as string] = r[i + 1] as string;
    this.audit.record({ kind: 'mfa.link_used', user: v.username, ...(address ? { address } : {}), detail: { guid: g, issuedBy: v.issuedBy } });
    return { issuedBy: v.issuedBy ?? '' };
  }

  /** Withdraws the person's outstanding link (an admin reset). */
  async revoke(guid: string): Promise<void> {
    const g = normaliseGuid(guid);
    const h = await this.redis.get(personKey(g, 'link'));
    if (h) await this.redis.del(linkKey(h), personKey(g, 'link'));
  }
}
