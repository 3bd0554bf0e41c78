// One-time enrolment links an admin issues for a person: a random token, stored only hashed, expiring, used once, audited.
import { createHash, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { RedisClient } from '../redis/createRedis.js';
import type { AuditLog } from '../audit/auditLog.js';
import type { Clock } from '../shared/clock.js';
import { normaliseGuid, personKey } from './factorStore.js';

export const ENROL_LINK_TTL_MS = 24 * 60 * 60_000;
/** Where the link leads; the enrolment page takes the token from here. */
export const ENROL_LINK_PATH = '/_gateway/mfa/enrol';

/** What `issue` hands out: 32 random bytes, base64url. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const hashOf = (token: string) => createHash('sha256').update(`sag-mfa-link\0${token}`).digest('base64url');
// A person's one live link, in the person's own slot: issuing replaces it in one step, so two links issued at once
// (a double click, two admins) never both stay valid, and a reset's revoke always finds the one there is.
const linkKey = (guid: string) => personKey(guid, 'link');

// Used once, before it expires (by the caller's clock): then it is gone. Looked up under the signed-in person, so
// another account presenting it finds nothing there and leaves it in place.
const CONSUME = `
local h = redis.call('HGET', KEYS[1], 'hash')
if not h or h ~= ARGV[1] then return nil end
if tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) <= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) return nil end
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
    await this.redis
      .multi()
      .del(linkKey(g))
      .hset(linkKey(g), { hash: h, username: opts.username, issuedBy: opts.actor, expiresAt: String(expiresAt) })
      .pexpire(linkKey(g), ttl)
      .exec();
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
    const [hash, expiresAt] = await this.redis.hmget(linkKey(g), 'hash', 'expiresAt');
    return hash === hashOf(token) && Number(expiresAt) > this.clock.now();
  }

  /** Spends the link for the signed-in person; throws GW_MFA_LINK_INVALID when it is unknown, expired, used, or another person's. */
  async consume(token: string, guid: string, address?: string): Promise<{ issuedBy: string }> {
    const g = normaliseGuid(guid);
    if (typeof token !== 'string' || !TOKEN.test(token)) throw new GatewayError('GW_MFA_LINK_INVALID', 'not an enrolment link');
    const r = (await this.redis.eval(CONSUME, 1, linkKey(g), hashOf(token), String(this.clock.now()))) as string[] | null;
    if (!Array.isArray(r)) throw new GatewayError('GW_MFA_LINK_INVALID', 'unknown, expired, used or another person’s enrolment link');
    const v: Record<string, string> = {};
    for (let i = 0; i + 1 < r.length; i += 2) v[r[i] as string] = r[i + 1] as string;
    this.audit.record({ kind: 'mfa.link_used', user: v.username, ...(address ? { address } : {}), detail: { guid: g, issuedBy: v.issuedBy } });
    return { issuedBy: v.issuedBy ?? '' };
  }

  /** Withdraws the person's outstanding link (an admin reset). */
  async revoke(guid: string): Promise<void> {
    const g = normaliseGuid(guid);
    await this.redis.del(linkKey(g));
  }
}
