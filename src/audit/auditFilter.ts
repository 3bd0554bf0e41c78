// Filters the newest audit events for the console and CLI. In memory over the newest N Redis keeps (10 000):
// a search never costs more than one LRANGE, and older history lives in the JSON log lines.
import type { AuditEvent } from './auditLog.js';
import { matchesKind } from './auditKinds.js';

export type StoredAuditEvent = AuditEvent & { at: string };

export interface AuditFilter {
  /** Case-insensitive; matches the user the event is about or the actor who caused it. */
  user?: string;
  /** Other values the same user may be recorded as: the keyed hash an unknown name is kept under (NameHasher.matches). */
  userAliases?: string[];
  /** A kind (`login.failure`) or a family (`login` matches `login.success` and `login.failure`). */
  kind?: string;
  /** Inclusive bounds, ms since the epoch. */
  since?: number;
  until?: number;
}

export function filterAudit(events: StoredAuditEvent[], f: AuditFilter, limit: number): StoredAuditEvent[] {
  const user = f.user?.trim().toLowerCase();
  const users = new Set([...(user ? [user] : []), ...(f.userAliases ?? []).map((u) => u.toLowerCase())]);
  const kind = f.kind?.trim();
  const out: StoredAuditEvent[] = [];
  for (const e of events) {
    if (users.size && !users.has(e.user?.toLowerCase() ?? '') && !users.has(e.actor?.toLowerCase() ?? '')) continue;
    if (kind && !matchesKind(kind, e.kind)) continue;
    const at = Date.parse(e.at);
    if (f.since !== undefined && at < f.since) continue;
    if (f.until !== undefined && at > f.until) continue;
    out.push(e);
    if (out.length >= limit) break;
  }
  return out;
}
