// Wrong TOTP and recovery codes per account, counted in Redis (shared by replicas) and never against AD's lockout.
import { THROTTLE_PREFIX } from '../auth/throttle.js';
import { RedisThrottleStore, type ThrottleStore } from '../auth/throttleStore.js';
import { GatewayError } from '../errors.js';
import type { RedisClient } from '../redis/createRedis.js';
import type { Clock } from '../shared/clock.js';

/** Wrong codes allowed per account within the window (throttle.window, restarted at every wrong code). */
export const MFA_CODE_LIMIT = 5;

export class MfaThrottle {
  readonly #store: ThrottleStore;

  constructor(
    redis: RedisClient,
    private readonly windowMs: number,
    private readonly clock: Clock,
    private readonly limit = MFA_CODE_LIMIT,
  ) {
    // Its own key (`sag:throttle:mfa:<objectGUID>`), apart from the sign-in counts kept for AD's lockout threshold.
    this.#store = new RedisThrottleStore(redis, THROTTLE_PREFIX);
  }

  static key(guid: string): string {
    return `mfa:${guid}`;
  }

  /** Takes one attempt before a code is checked (atomic, so parallel guesses cannot all slip under the limit). */
  async take(guid: string): Promise<void> {
    let retryMs: number;
    try {
      retryMs = await this.#store.take(MfaThrottle.key(guid), this.limit, this.windowMs, this.clock.now());
    } catch (e) {
      throw new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'throttle store unavailable', { cause: e });
    }
    if (retryMs > 0) throw new GatewayError('GW_THROTTLED', 'too many wrong codes', { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryMs / 1000))) } });
  }

  /** The code was right: the attempt does not count. */
  async giveBack(guid: string): Promise<void> {
    await this.#store.giveBack(MfaThrottle.key(guid)).catch(() => undefined);
  }

  /** An admin's reset starts the person afresh. */
  async clear(guid: string): Promise<void> {
    await this.#store.clear(MfaThrottle.key(guid));
  }
}
