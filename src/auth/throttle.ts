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

  /**
   * Takes one attempt from the address's allowance before anything else happens. Taking (not just
   * checking) is atomic in Redis, so parallel requests cannot all slip under the limit.
   */
  async takeAddress(address: string): Promise<void> {
    await this.take(this.byAddress, address);
  }

  /** Takes one attempt from the account's allowance; called after the account is known, before AD sees the password. */
  async takeUser(accountKey: string): Promise<void> {
    await this.take(this.byUser, accountKey);
  }

  /** The password was not the problem (success, directory outage, a refusal AD gives only to right passwords): give the attempt back. */
  async giveBack(accountKey: string | undefined, address: string): Promise<void> {
    await Promise.all([accountKey ? this.byUser.reward(accountKey, 1) : undefined, this.byAddress.reward(address, 1)]).catch(() => undefined);
  }

  /** A successful sign-in clears the account's count. */
  async succeeded(accountKey: string, address: string): Promise<void> {
    await Promise.all([this.byUser.delete(accountKey), this.byAddress.reward(address, 1)]).catch(() => undefined);
  }

  private async take(limiter: RateLimiterAbstract, key: string): Promise<void> {
    try {
      await limiter.consume(key, 1);
    } catch (e) {
      if (e instanceof RateLimiterRes) {
        const retry = Math.max(1, Math.ceil(e.msBeforeNext / 1000));
        throw new GatewayError('GW_THROTTLED', 'too many failed sign-ins', { headers: { 'Retry-After': String(retry) } });
      }
      throw new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'throttle store unavailable', { cause: e });
    }
  }
}
