// The audit log in the console, filtered by user, kind and time over the newest events Redis keeps.
import type { Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { filterAudit, type AuditFilter } from '../../audit/auditFilter.js';
import { AUDIT_FILTER_KINDS } from '../../audit/auditKinds.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { auditKindLabels, format } from '../i18n.js';
import { adminPage, formatTime } from './adminContext.js';

const SHOW = 200;
/** Everything Redis keeps (AuditLog's KEEP): filtering in memory over all of it is one LRANGE. */
const SCAN = 10_000;

/** `2026-01-31` or `2026-01-31T14:00[:ss]`, read as UTC; a bare date as an upper bound means the end of that day. */
export function parseUtc(s: string, endOfDay: boolean): number | undefined | null {
  if (!s) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?))?$/.exec(s.trim());
  if (!m) return null;
  const t = Date.parse(`${m[1]}T${m[2] ?? (endOfDay ? '23:59:59' : '00:00:00')}Z`);
  return Number.isNaN(t) ? null : t + (m[2] || !endOfDay ? 0 : 999);
}

export function showAudit(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const { a } = p;
    const q = (k: string, max = 256) => (typeof req.query[k] === 'string' ? (req.query[k] as string).trim().slice(0, max) : '');
    const user = q('user');
    const kind = q('kind', 64);
    const sinceText = q('since', 32);
    const untilText = q('until', 32);
    const since = parseUtc(sinceText, false);
    const until = parseUtc(untilText, true);
    // A name that matched no account is stored as its keyed hash: typing it here finds those entries too.
    const filter: AuditFilter = { ...(user ? { user, userAliases: deps.names.matches(user) } : {}), ...(kind ? { kind } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}) };
    const events = filterAudit(await deps.audit.recent(SCAN), filter, SHOW);
    const labels: Record<string, string> = auditKindLabels(p.lang);
    const kindLabel = (k: string): string | undefined => (Object.hasOwn(labels, k) ? labels[k] : undefined);
    p.render('audit', {
      section: 'audit',
      title: a.auditTitle,
      status: since === null || until === null ? 400 : 200,
      error: since === null || until === null ? a.badDate : undefined,
      action: p.url('/audit'),
      clearHref: p.url('/audit'),
      user,
      since: sinceText,
      until: untilText,
      kinds: [{ value: '', label: a.kindAll, selected: !kind }, ...AUDIT_FILTER_KINDS.map((k) => ({ value: k, label: kindLabel(k) ?? k, selected: k === kind }))],
      showing: format(a.showing, { count: events.length }),
      hasEvents: events.length > 0,
      events: events.map((e) => ({
        at: formatTime(e.at),
        iso: e.at,
        kind: e.kind,
        kindLabel: kindLabel(e.kind) ?? e.kind,
        failure: e.kind === 'login.failure' || e.kind === 'reauth.refused',
        user: e.user ?? '',
        userHref: e.user ? p.url('/audit', { user: e.user }) : undefined,
        actor: e.actor ?? '',
        address: e.address ?? '',
        reason: e.reason ?? '',
        detail: e.detail ? JSON.stringify(e.detail).slice(0, 400) : '',
      })),
    });
  };
}
