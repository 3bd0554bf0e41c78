// Runs the full sync every `interval` on exactly one replica: whoever takes the Redis lock for this round.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisClient } from '../redis/createRedis.js';

export const SYNC_LOCK_KEY = 'sag:sync:lock';

/** Extends the sync lock to `ttlMs` from now, only while `owner` still holds it. */
export async function extendSyncLock(redis: RedisClient, owner: string, ttlMs: number): Promise<void> {
  await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 1`, 1, SYNC_LOCK_KEY, owner, String(ttlMs));
}

export function startPeriodicSync(o: { intervalMs: number; redis: RedisClient | null; run: () => Promise<void>; logger: Logger }): () => void {
  const me = randomUUID();
  let timer: NodeJS.Timeout | undefined;
  // The lock outlives the round slightly less than the interval, so the next round can start on any replica.
  const ttlMs = Math.max(1000, o.intervalMs - 1000);
  let running = false;
  const tick = async () => {
    // A round still going on this replica is never joined by its own next tick.
    if (running) return;
    try {
      const got = o.redis ? await o.redis.set(SYNC_LOCK_KEY, me, 'PX', ttlMs, 'NX') : 'OK';
      if (got === 'OK') {
        running = true;
        // A round that takes longer than the interval keeps its claim while it runs, so no replica starts beside it.
        const redis = o.redis;
        const renew = redis ? setInterval(() => void extendSyncLock(redis, me, ttlMs).catch(() => undefined), Math.max(250, Math.floor(ttlMs / 3))) : undefined;
        renew?.unref();
        try {
          await o.run();
        } finally {
          clearInterval(renew);
          running = false;
          // The round stays claimed (no second periodic run this interval), but marked finished, so a console
          // sync may start (provisioning/syncRuns.ts): the lock only ever keeps two runs from overlapping.
          await o.redis
            ?.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], 'done:' .. ARGV[1], 'KEEPTTL') end return 1`, 1, SYNC_LOCK_KEY, me)
            .catch(() => undefined);
        }
      }
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
