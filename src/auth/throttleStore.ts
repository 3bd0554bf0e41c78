// Where the throttle keeps its counts: a Redis hash per key (n = failures, last = time of the last one), or process memory in development.
import type { RedisClient } from '../redis/createRedis.js';

export interface ThrottleStore {
  /**
   * Counts one failure against `key` unless it already has `limit` within the window; the window
   * restarts at every counted failure. Returns 0 when counted, else the ms until the key is free.
   */
  take(key: string, limit: number, windowMs: number, now: number): Promise<number>;
  /** Hands back one counted failure (the attempt turned out not to be a wrong password). */
  giveBack(key: string): Promise<void>;
  clear(key: string): Promise<void>;
}

// The time comes from the caller's clock, not Redis's: replicas are expected to keep NTP time, and
// a few seconds of skew are small against windows of minutes. A refused attempt does not move
// `last`: it never reached AD, so it does not restart AD's window either.
const TAKE = `
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if n > 0 and now - last >= window then n = 0 end
if n >= limit then
  local left = last + window - now
  if left < 1 then left = 1 end
  return left
end
redis.call('HSET', KEYS[1], 'n', n + 1, 'last', now)
redis.call('PEXPIRE', KEYS[1], window)
return 0`;

const GIVE_BACK = `
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n > 0 then redis.call('HSET', KEYS[1], 'n', n - 1) end
return 0`;

export class RedisThrottleStore implements ThrottleStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async take(key: string, limit: number, windowMs: number, now: number): Promise<number> {
    const left = await this.redis.eval(TAKE, 1, `${this.prefix}:${key}`, String(Math.floor(now)), String(limit), String(Math.max(1, Math.ceil(windowMs))));
    return Number(left);
  }

  async giveBack(key: string): Promise<void> {
    await this.redis.eval(GIVE_BACK, 1, `${this.prefix}:${key}`);
  }

  async clear(key: string): Promise<void> {
    await this.redis.del(`${this.prefix}:${key}`);
  }
}

/** Development only (no Redis): the same rules, in this process. */
export class MemoryThrottleStore implements ThrottleStore {
  readonly #counts = new Map<string, { n: number; last: number; windowMs: number }>();

  async take(key: string, limit: number, windowMs: number, now: number): Promise<number> {
    this.#sweep(now);
    const e = this.#counts.get(key);
    const n = e && now - e.last < windowMs ? e.n : 0;
    if (n >= limit && e) return Math.max(1, e.last + windowMs - now);
    this.#counts.set(key, { n: n + 1, last: now, windowMs });
    return 0;
  }

  async giveBack(key: string): Promise<void> {
    const e = this.#counts.get(key);
    if (e && e.n > 0) e.n -= 1;
  }

  async clear(key: string): Promise<void> {
    this.#counts.delete(key);
  }

  /** Forget quiet keys so a flood of made-up names cannot grow the map without bound. */
  #sweep(now: number): void {
    if (this.#counts.size < 10_000) return;
    for (const [k, e] of this.#counts) if (now - e.last >= e.windowMs) this.#counts.delete(k);
  }
}
