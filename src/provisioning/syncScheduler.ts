// Runs the full sync every `interval` on exactly one replica: whoever takes the Redis lock for this round.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisClient } from '../session/createRedis.js';

export const SYNC_LOCK_KEY = 'sag:sync:lock';

export function startPeriodicSync(o: { intervalMs: number; redis: RedisClient | null; run: () => Promise<void>; logger: Logger }): () => void {
  const me = randomUUID();
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      // The lock outlives the round slightly less than the interval, so the next round can start on any replica.
      const got = o.redis ? await o.redis.set(SYNC_LOCK_KEY, me, 'PX', Math.max(1000, o.intervalMs - 1000), 'NX') : 'OK';
      if (got === 'OK') await o.run();
    } catch (e) {
      o.logger.error({ err: (e as Error).message }, 'periodic sync failed');
    }
  };
  timer = setInterval(() => void tick(), o.intervalMs);
  timer.unref();
  return () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
}
