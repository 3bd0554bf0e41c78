// Factors are credentials, not cache: the Redis that holds them must persist them (AOF or RDB save rules) and never evict them.
import { Cluster, type Redis } from 'ioredis';
import { mfaConfigured } from '../config/loadConfig.js';
import type { Config } from '../config/schema.js';
import type { RedisClient } from '../redis/createRedis.js';
import { MFA_PEOPLE_KEY } from './factorStore.js';

export interface DurabilityProblem {
  /** The Redis setting at fault, as redis.conf names it. */
  setting: 'appendonly' | 'save' | 'maxmemory-policy';
  message: string;
}

const infoField = (info: string, field: string) => new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();

/** One node's settings: CONFIG GET where it is allowed, else INFO (where CONFIG is renamed away, as hardened setups do). */
async function nodeProblems(node: Redis, label: string): Promise<DurabilityProblem[]> {
  let appendonly: string | undefined;
  let save: string | undefined;
  let policy: string | undefined;
  try {
    const pairs = (await node.call('CONFIG', 'GET', 'appendonly')) as string[];
    appendonly = pairs[1];
    save = ((await node.call('CONFIG', 'GET', 'save')) as string[])[1];
    policy = ((await node.call('CONFIG', 'GET', 'maxmemory-policy')) as string[])[1];
  } catch {
    const persistence = await node.info('persistence');
    const memory = await node.info('memory');
    appendonly = infoField(persistence, 'aof_enabled') === '1' ? 'yes' : 'no';
    // INFO does not show save rules: unknown, so only AOF counts as persistence here (fail closed).
    save = undefined;
    policy = infoField(memory, 'maxmemory_policy');
  }
  const out: DurabilityProblem[] = [];
  const where = label ? ` on ${label}` : '';
  if (appendonly !== 'yes' && !(save && save.trim() !== '')) {
    out.push(
      save === undefined
        ? { setting: 'appendonly', message: `Redis${where} has appendonly off and its save rules cannot be read (CONFIG is not allowed): set appendonly yes so enrolled factors survive a restart` }
        : { setting: 'appendonly', message: `Redis${where} persists nothing (appendonly no, save ""): set appendonly yes (or save rules) so enrolled factors survive a restart` },
    );
  }
  if (policy !== 'noeviction') {
    out.push({ setting: 'maxmemory-policy', message: `Redis${where} has maxmemory-policy ${policy ?? '(unknown)'}: set noeviction, or Redis may drop enrolled factors when memory is full` });
  }
  return out;
}

/** Every master that holds data (each master of a Cluster; the one server otherwise). */
export async function redisDurabilityProblems(redis: RedisClient): Promise<DurabilityProblem[]> {
  if (redis instanceof Cluster) {
    const out: DurabilityProblem[] = [];
    for (const node of redis.nodes('master')) out.push(...(await nodeProblems(node, `${node.options.host}:${node.options.port}`)));
    return out;
  }
  return nodeProblems(redis, '');
}

/** The check applies when the policy asks anyone for a second factor, or anyone has enrolled one (a factor lost would let a password alone through). */
export async function durabilityRequired(config: Pick<Config, 'mfa'>, redis: RedisClient): Promise<boolean> {
  return mfaConfigured(config) || (await redis.scard(MFA_PEOPLE_KEY)) > 0;
}

/**
 * For `serve` and `check-config --connect`: connects once with its own client and returns the problems, [] when
 * durable or when the check does not apply. With a second factor configured, a Redis that cannot be reached is a
 * problem too (durability cannot be verified); otherwise it is left to the usual start-up handling.
 */
export async function checkRedisDurability(config: Config, timeoutMs = 5000): Promise<DurabilityProblem[] | { unreachable: string }> {
  if (!config.session.redisUrl) return [];
  const { createRedis } = await import('../redis/createRedis.js');
  const redis = createRedis(config.session.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 0, retryStrategy: () => null, commandTimeout: timeoutMs, connectTimeout: timeoutMs });
  redis.on('error', () => undefined);
  try {
    if (!(await durabilityRequired(config, redis))) return [];
    return await redisDurabilityProblems(redis);
  } catch (e) {
    if (!mfaConfigured(config)) return [];
    // The URL may hold a password: the message names neither.
    return { unreachable: `cannot read Redis's persistence settings (${(e as Error).message.replace(/\/\/[^@/\s]*@/g, '//')})` };
  } finally {
    redis.disconnect();
  }
}
