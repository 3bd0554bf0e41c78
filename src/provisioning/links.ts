// The people the gateway has linked to Sentry: AD objectGUID -> email, written when it signs someone in or
// provisions them. Offboarding only ever considers these, so a local Sentry account never in AD is never touched.
import type { RedisClient } from '../redis/createRedis.js';
import type { OffboardReason } from './planMembership.js';

export const linksKey = (organization: string) => `sag:provision:links:${organization}`;

export interface PersonLink {
  /** AD objectGUID: the assertion's `sub`. */
  sub: string;
  email: string;
  username: string;
  linkedAt: number;
  /** Set once Sentry confirmed the offboarding; a later sign-in (re-enabled account) clears it. */
  offboarded?: { reason: OffboardReason; at: number };
}

export class LinkStore {
  private readonly memory = new Map<string, PersonLink>();

  constructor(
    private readonly redis: RedisClient | null,
    private readonly organization: string,
  ) {}

  async record(sub: string, email: string, username: string, now: number): Promise<void> {
    if (!sub) return;
    const link: PersonLink = { sub, email: email.toLowerCase(), username, linkedAt: now };
    if (this.redis) await this.redis.hset(linksKey(this.organization), sub, JSON.stringify(link));
    else this.memory.set(sub, link);
  }

  async get(sub: string): Promise<PersonLink | null> {
    if (!sub) return null;
    if (!this.redis) return this.memory.get(sub) ?? null;
    const raw = await this.redis.hget(linksKey(this.organization), sub);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as PersonLink;
    } catch {
      return null;
    }
  }

  async all(): Promise<PersonLink[]> {
    if (!this.redis) return [...this.memory.values()];
    const raw = await this.redis.hgetall(linksKey(this.organization));
    const out: PersonLink[] = [];
    for (const v of Object.values(raw)) {
      try {
        out.push(JSON.parse(v) as PersonLink);
      } catch {
        // A damaged entry is skipped, never guessed at.
      }
    }
    return out;
  }

  async markOffboarded(link: PersonLink, reason: OffboardReason, now: number): Promise<void> {
    const next: PersonLink = { ...link, offboarded: { reason, at: now } };
    if (this.redis) await this.redis.hset(linksKey(this.organization), link.sub, JSON.stringify(next));
    else this.memory.set(link.sub, next);
  }
}
