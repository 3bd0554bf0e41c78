// Counts failed sign-ins per username and per client address in Redis, shared by every replica.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RedisClient } from '../session/createRedis.js';
import { GatewayError } from '../errors.js';

export interface ThrottleSettings {
  perUser: number;
  perAddress: number;
  windowMs: number;
}

/** SPEC §7: stay below AD's lockout threshold so the gateway can never be used to lock an account out. */
export function perUserLimit(setting: number | 'auto', lockoutThreshold: number): number {
  if (setting !== 'auto') return lockoutThreshold > 0 ? Math.max(1, Math.min(setting, lockoutThreshold - 2)) : setting;
  if (lockoutThreshold <= 0) return 5;
  return Math.max(1, Math.min(5, lockoutThreshold - 2));
}

export class LoginThrottle {
  private readonly byUser: RateLimiterAbstract;
  private readonly byAddress: RateLimiterAbstract;

  constructor(settings: ThrottleSettings, redis: RedisClient | null) {
    const duration = Math.ceil(settings.windowMs / 1000);
    const make = (keyPrefix: string, points: number): RateLimiterAbstract =>
      redis
        ? new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration })
        : new RateLimiterMemory({ keyPrefix, points, duration });
    this.byUser = make('sag:throttle:user', settings.perUser);
    this.byAddress = make('sag:throttle:addr', settings.perAddress);
  }

  /** Throws GW_THROTTLED (429 with Retry-After) when either counter is spent; GW_SESSION_STORE_UNAVAILABLE when Redis is down. */
  async check(username: string, address: string): Promise<void> {
    const [u, a] = await Promise.all([this.get(this.byUser, username), this.get(this.byAddress, address)]);
    const blocked = [u && u.consumedPoints >= this.byUser.points ? u : null, a && a.consumedPoints >= this.byAddress.points ? a : null].filter(
      (x): x is RateLimiterRes => x !== null,
    );
    if (blocked.length) {
      const retry = Math.max(1, Math.ceil(Math.max(...blocked.map((b) => b.msBeforeNext)) / 1000));
      throw new GatewayError('GW_THROTTLED', 'too many failed sign-ins', { headers: { 'Retry-After': String(retry) } });
    }
  }

  async recordFailure(username: string, address: string): Promise<void> {
    await Promise.all([this.consume(this.byUser, username), this.consume(this.byAddress, address)]);
  }

  async recordSuccess(username: string): Promise<void> {
    await this.byUser.delete(username).catch(() => undefined);
  }

  private async get(limiter: RateLimiterAbstract, key: string): Promise<RateLimiterRes | null> {
    try {
      return await limiter.get(key);
    } catch (e) {
      throw new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'throttle store unavailable', { cause: e });
    }
  }

  private async consume(limiter: RateLimiterAbstract, key: string): Promise<void> {
    try {
      await limiter.consume(key, 1);
    } catch (e) {
      // A spent counter rejects with RateLimiterRes: the failure is still counted, which is all we wanted.
      if (e instanceof RateLimiterRes) return;
      throw new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'throttle store unavailable', { cause: e });
    }
  }
}
