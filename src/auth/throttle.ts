// Counts failed sign-ins per account and per client address in Redis, shared by every replica.
import type { RedisClient } from '../redis/createRedis.js';
import { GatewayError } from '../errors.js';
import type { Clock } from '../shared/clock.js';
import type { LockoutPolicy } from '../directory/directory.js';
import { addressKey } from './addressKey.js';
import { MemoryThrottleStore, RedisThrottleStore, type ThrottleStore } from './throttleStore.js';

export const THROTTLE_PREFIX = 'sag:throttle';

export interface ThrottleSettings {
  /** throttle.perUser: a number, or 'auto' for min(5, lockoutThreshold − 2). */
  perUser: number | 'auto';
  perAddress: number;
  /** throttle.window: the quiet time after the last failure before a count is forgotten (at least AD's window for accounts). */
  windowMs: number;
}

/** The allowance of one account: failures before 429, and the quiet time after the last failure that clears them. */
export interface AccountAllowance {
  limit: number;
  windowMs: number;
}

/** What the gateway allows an account under its lockout policy: below the threshold, and never forgetting sooner than AD. */
export function accountAllowance(settings: Pick<ThrottleSettings, 'perUser' | 'windowMs'>, lockout: LockoutPolicy): AccountAllowance {
  return {
    limit: perUserLimit(settings.perUser, lockout.threshold),
    windowMs: Math.max(settings.windowMs, lockout.threshold > 0 ? lockout.observationWindowMs : 0),
  };
}

/**
 * Whether the gateway keeps an account with this lockout threshold from being locked through it: the failures it
 * lets reach AD stay at least 2 below the threshold (room for a typo on a workstation). Thresholds of 1 and 2 leave
 * no such room (the gateway must let one attempt through), so accounts under them can be locked through the gateway.
 */
export function protectsFromLockout(settings: Pick<ThrottleSettings, 'perUser'>, lockoutThreshold: number): boolean {
  return lockoutThreshold <= 0 || perUserLimit(settings.perUser, lockoutThreshold) <= lockoutThreshold - 2;
}

/** docs/design.md §7: stay below AD's lockout threshold so the gateway cannot be used to lock an account out (thresholds of 3 and up). */
export function perUserLimit(setting: number | 'auto', lockoutThreshold: number): number {
  if (setting !== 'auto') return lockoutThreshold > 0 ? Math.max(1, Math.min(setting, lockoutThreshold - 2)) : setting;
  if (lockoutThreshold <= 0) return 5;
  return Math.max(1, Math.min(5, lockoutThreshold - 2));
}

/**
 * Like AD's observation window, the count is forgotten only after a whole window with no failure:
 * every failure restarts it. A window that started at the first failure would forget while AD
 * still remembers, and a patient attacker could then push AD's count to its threshold.
 */
export class LoginThrottle {
  readonly #store: ThrottleStore;

  constructor(
    private readonly settings: ThrottleSettings,
    redis: RedisClient | null,
    private readonly clock: Clock,
  ) {
    this.#store = redis ? new RedisThrottleStore(redis, THROTTLE_PREFIX) : new MemoryThrottleStore();
  }

  /**
   * Takes one attempt from the address's allowance before anything else happens. Taking (not just
   * checking) is atomic in Redis, so parallel requests cannot all slip under the limit.
   */
  async takeAddress(address: string): Promise<void> {
    await this.#take(`addr:${addressKey(address)}`, this.settings.perAddress, this.settings.windowMs);
  }

  /** Takes one attempt from the account's allowance; called after the account and its lockout policy are known, before AD sees the password. */
  async takeUser(accountKey: string, lockout: LockoutPolicy): Promise<void> {
    const { limit, windowMs } = accountAllowance(this.settings, lockout);
    await this.#take(`user:${accountKey}`, limit, windowMs);
  }

  /** The password was not the problem (success, directory outage, a refusal AD gives only to right passwords): give the attempt back. */
  async giveBack(accountKey: string | undefined, address: string): Promise<void> {
    await Promise.all([accountKey ? this.#store.giveBack(`user:${accountKey}`) : undefined, this.#store.giveBack(`addr:${addressKey(address)}`)]).catch(() => undefined);
  }

  /** A successful sign-in clears the account's count. */
  async succeeded(accountKey: string, address: string): Promise<void> {
    await Promise.all([this.#store.clear(`user:${accountKey}`), this.#store.giveBack(`addr:${addressKey(address)}`)]).catch(() => undefined);
  }

  async #take(key: string, limit: number, windowMs: number): Promise<void> {
    let retryMs: number;
    try {
      retryMs = await this.#store.take(key, limit, windowMs, this.clock.now());
    } catch (e) {
      throw new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'throttle store unavailable', { cause: e });
    }
    if (retryMs > 0) {
      throw new GatewayError('GW_THROTTLED', 'too many failed sign-ins', { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryMs / 1000))) } });
    }
  }
}
