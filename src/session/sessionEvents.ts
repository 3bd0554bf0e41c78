// Ended sessions announced to every replica over Redis pub/sub, so a sign-out or revocation takes
// effect everywhere at once instead of after each replica's short in-process cache runs out.
import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisClient } from '../redis/createRedis.js';

export const SESSIONS_ENDED_CHANNEL = 'sag:sessions:ended';

/** Publishes the ids; the cache is only a speed-up, so a failed announcement costs at most its 2 s. */
export async function announceEnded(redis: RedisClient | null, ids: readonly string[]): Promise<void> {
  if (!redis || ids.length === 0) return;
  await redis.publish(SESSIONS_ENDED_CHANNEL, JSON.stringify(ids));
}

/** Calls `onEnded` with the ids every announcement carries, on a connection of its own; returns a stop function. */
export function listenForEnded(redis: RedisClient, onEnded: (ids: string[]) => void, logger: Logger): () => void {
  // A cluster client keeps a subscriber connection of its own, which moves to another node when its node dies. It
  // picks from the nodes the client knows: a duplicate client sends no commands, so it would only ever know the first
  // masters and, once those had all failed over, never listen again. The shared client follows every failover.
  const shared = redis instanceof Cluster;
  const sub: RedisClient = shared ? redis : redis.duplicate();
  // The main connection already reports Redis being away; this one only needs to come back with it.
  if (!shared) sub.on('error', (e: Error) => logger.debug({ err: e.message }, 'session announcements: redis connection error'));
  // Subscribed once connected; ioredis subscribes again by itself after every reconnect.
  const subscribe = () => {
    sub.subscribe(SESSIONS_ENDED_CHANNEL).catch((e: unknown) => logger.warn({ err: (e as Error).message }, 'session announcements unavailable'));
  };
  if (shared && sub.status === 'ready') subscribe();
  else sub.once('ready', subscribe);
  const onMessage = (channel: string, message: string) => {
    if (channel !== SESSIONS_ENDED_CHANNEL) return;
    let ids: unknown;
    try {
      ids = JSON.parse(message);
    } catch {
      return;
    }
    if (Array.isArray(ids)) onEnded(ids.filter((id): id is string => typeof id === 'string'));
  };
  sub.on('message', onMessage);
  return () => {
    sub.off('message', onMessage);
    sub.off('ready', subscribe);
    if (shared) void sub.unsubscribe(SESSIONS_ENDED_CHANNEL).catch(() => undefined);
    else sub.disconnect();
  };
}
