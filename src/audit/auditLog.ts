// Audit events: one JSON log line each, and the newest kept in Redis for the admin console.
import type { Logger } from 'pino';
import type { RedisClient } from '../redis/createRedis.js';
import type { AuditKind } from './auditKinds.js';

export const AUDIT_KEY = 'sag:audit';
const KEEP = 10_000;

export interface AuditEvent {
  kind: AuditKind;
  /** Who the event is about (username as typed or resolved). */
  user?: string;
  /** Who caused it, when not the user themselves (an admin, the CLI, the system). */
  actor?: string;
  address?: string;
  /** Exact machine reason, e.g. the AD sub-code's meaning; never shown to the user when it could reveal an account. */
  reason?: string;
  detail?: Record<string, unknown>;
}

export class AuditLog {
  constructor(
    private readonly logger: Logger,
    private readonly redis: RedisClient | null,
  ) {}

  record(event: AuditEvent): void {
    const entry = { at: new Date().toISOString(), ...event };
    this.logger.info({ audit: entry }, `audit ${event.kind}`);
    if (!this.redis) return;
    // The log line above is the record of truth; Redis only feeds the console, so a failed write is logged, not raised.
    this.redis
      .multi()
      .lpush(AUDIT_KEY, JSON.stringify(entry))
      .ltrim(AUDIT_KEY, 0, KEEP - 1)
      .exec()
      .catch((e: unknown) => this.logger.warn({ err: (e as Error).message }, 'audit event not stored in Redis'));
  }

  async recent(limit = 100): Promise<(AuditEvent & { at: string })[]> {
    if (!this.redis) return [];
    const rows = await this.redis.lrange(AUDIT_KEY, 0, limit - 1);
    return rows.map((r) => JSON.parse(r) as AuditEvent & { at: string });
  }
}
