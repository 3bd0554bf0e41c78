// Sentry's daily invite limits, as the gateway sees them: once Sentry answers an invite with its rate-limit
// 429, no invite goes out until the next window, on any replica; the waiting people sit in the retry queue.
import type { RedisClient } from '../redis/createRedis.js';
import type { Clock } from '../shared/clock.js';

/** Until when (ms since epoch) invites wait, per organization. */
export const inviteWaitKey = (organization: string) => `sag:provision:invite-wait:${organization}`;

const DAY_MS = 24 * 3600_000;
/** A little past the window's start, so a clock a few seconds apart from Sentry's is still in the new window. */
const MARGIN_MS = 5 * 60_000;

/**
 * Sentry counts invites per inviting user, per organization and per address in windows of one day that
 * start at 00:00 UTC (src/sentry/ratelimits/redis.py buckets time as int(now / window)), and answers a
 * 429 without any reset header; the earliest an invite can pass again is the next window.
 */
export function nextInviteWindow(now: number): number {
  return (Math.floor(now / DAY_MS) + 1) * DAY_MS + MARGIN_MS;
}

export class InviteLimit {
  private memoryUntil = 0;

  constructor(
    private readonly redis: RedisClient | null,
    private readonly organization: string,
    private readonly clock: Clock,
  ) {}

  /** When invites may go out again, or null when they may now. */
  async waitUntil(): Promise<number | null> {
    const raw = this.redis ? await this.redis.get(inviteWaitKey(this.organization)) : String(this.memoryUntil);
    const until = Number(raw ?? 0);
    return until > this.clock.now() ? until : null;
  }

  /** Sentry refused an invite for its limit: every replica holds invites until the next window. */
  async reached(): Promise<number> {
    const until = nextInviteWindow(this.clock.now());
    if (!this.redis) {
      this.memoryUntil = Math.max(this.memoryUntil, until);
      return this.memoryUntil;
    }
    // The key outlives the wait by a day, so a moved test clock or a slow clock still reads it.
    await this.redis.set(inviteWaitKey(this.organization), String(until), 'PX', Math.max(60_000, until - Date.now() + DAY_MS));
    return until;
  }
}
