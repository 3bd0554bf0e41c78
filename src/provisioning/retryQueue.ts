// A durable retry queue for provisioning jobs in Redis: one job per email, leased while running, backed off on failure.
import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/createRedis.js';

/** One hash tag for both keys, so the claim script and the MULTIs may touch them together on Redis Cluster. */
export const QUEUE_KEY = 'sag:provision:{retry}:queue';
export const JOBS_KEY = 'sag:provision:{retry}:jobs';
/** The names before Cluster support: a single Redis or Sentinel set may still hold jobs there (merged in at each claim). */
export const LEGACY_QUEUE_KEY = 'sag:provision:queue';
export const LEGACY_JOBS_KEY = 'sag:provision:jobs';

export interface ProvisionJob {
  email: string;
  username: string;
  groups: { dn: string; name: string; sid: string }[];
  /** AD objectGUID, when known. */
  sub?: string;
  attempts: number;
  lastError?: string;
  enqueuedAt: number;
}

/** First retry within 10 s, doubling, capped at 5 minutes (docs/design.md §8). */
export function retryDelayMs(attempts: number): number {
  return Math.min(5_000 * 2 ** Math.max(0, attempts - 1), 300_000);
}

/** While a replica works on a job it is pushed this far into the future; a replica that dies mid-job loses only the lease. */
const LEASE_MS = 60_000;

export interface RetryQueue {
  /** `dueAt` overrides the usual backoff (Sentry's invite limit: the next day). */
  enqueue(job: Omit<ProvisionJob, 'attempts' | 'enqueuedAt'>, now: number, attempts?: number, dueAt?: number): Promise<void>;
  /** Leases up to `limit` due jobs to this replica. */
  claimDue(now: number, limit: number): Promise<ProvisionJob[]>;
  done(email: string): Promise<void>;
  retryLater(job: ProvisionJob, error: string, now: number, dueAt?: number): Promise<void>;
  depth(): Promise<number>;
}

const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, email in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]), email)
  local job = redis.call('HGET', KEYS[2], email)
  if job then table.insert(out, job) else redis.call('ZREM', KEYS[1], email) end
end
return out`;

/** Moves jobs from the old keys to the new ones (a newer job already there wins) and drops the old keys. */
const MERGE_LEGACY = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local rows = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #rows, 2 do
  local job = redis.call('HGET', KEYS[2], rows[i])
  if job and redis.call('HSETNX', KEYS[4], rows[i], job) == 1 then redis.call('ZADD', KEYS[3], rows[i + 1], rows[i]) end
end
redis.call('DEL', KEYS[1], KEYS[2])
return #rows / 2`;

export class RedisRetryQueue implements RetryQueue {
  constructor(private readonly redis: RedisClient) {}

  async enqueue(job: Omit<ProvisionJob, 'attempts' | 'enqueuedAt'>, now: number, attempts = 0, dueAt?: number): Promise<void> {
    const full: ProvisionJob = { ...job, attempts, enqueuedAt: now };
    // The newest desired state for an email replaces any older job for it.
    await this.redis.multi().hset(JOBS_KEY, job.email, JSON.stringify(full)).zadd(QUEUE_KEY, dueAt ?? now + retryDelayMs(Math.max(1, attempts)), job.email).exec();
  }

  async claimDue(now: number, limit: number): Promise<ProvisionJob[]> {
    // Replicas not yet upgraded may still queue under the old names; a cluster never had them (they could not work there).
    if (!(this.redis instanceof Cluster)) await this.redis.eval(MERGE_LEGACY, 4, LEGACY_QUEUE_KEY, LEGACY_JOBS_KEY, QUEUE_KEY, JOBS_KEY);
    const rows = (await this.redis.eval(CLAIM, 2, QUEUE_KEY, JOBS_KEY, String(now), String(now + LEASE_MS), String(limit))) as string[];
    return rows.map((r) => JSON.parse(r) as ProvisionJob);
  }

  async done(email: string): Promise<void> {
    await this.redis.multi().zrem(QUEUE_KEY, email).hdel(JOBS_KEY, email).exec();
  }

  async retryLater(job: ProvisionJob, error: string, now: number, dueAt?: number): Promise<void> {
    const next: ProvisionJob = { ...job, attempts: job.attempts + 1, lastError: error.slice(0, 300) };
    await this.redis.multi().hset(JOBS_KEY, job.email, JSON.stringify(next)).zadd(QUEUE_KEY, dueAt ?? now + retryDelayMs(next.attempts), job.email).exec();
  }

  async depth(): Promise<number> {
    return this.redis.zcard(QUEUE_KEY);
  }
}

/** Development only (no Redis): the same behaviour, lost at restart. */
export class MemoryRetryQueue implements RetryQueue {
  private readonly jobs = new Map<string, { job: ProvisionJob; due: number }>();
  async enqueue(job: Omit<ProvisionJob, 'attempts' | 'enqueuedAt'>, now: number, attempts = 0, dueAt?: number): Promise<void> {
    this.jobs.set(job.email, { job: { ...job, attempts, enqueuedAt: now }, due: dueAt ?? now + retryDelayMs(Math.max(1, attempts)) });
  }
  async claimDue(now: number, limit: number): Promise<ProvisionJob[]> {
    const out: ProvisionJob[] = [];
    for (const entry of this.jobs.values()) {
      if (out.length >= limit) break;
      if (entry.due <= now) {
        entry.due = now + LEASE_MS;
        out.push(entry.job);
      }
    }
    return out;
  }
  async done(email: string): Promise<void> {
    this.jobs.delete(email);
  }
  async retryLater(job: ProvisionJob, error: string, now: number, dueAt?: number): Promise<void> {
    const next = { ...job, attempts: job.attempts + 1, lastError: error.slice(0, 300) };
    this.jobs.set(job.email, { job: next, due: dueAt ?? now + retryDelayMs(next.attempts) });
  }
  async depth(): Promise<number> {
    return this.jobs.size;
  }
}
