// SentryAdmin over Sentry's /api/0/: cursor pagination, timeouts, retries for idempotent calls, stable error codes.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../shared/logger.js';
import { SentryApiError, type SentryAdmin, type SentryMember, type SentryOrgRole, type SentryTeamRole } from './sentryAdmin.js';

export interface HttpSentryAdminOptions {
  /** API base, e.g. http://sentry-web:9000 */
  baseUrl: string;
  organization: string;
  /** Read on every call so a rotated token file takes effect at once. */
  token: () => string;
  logger: Logger;
  /** Per attempt. */
  timeoutMs?: number;
  retries?: number;
  /** Called once per HTTP attempt, for metrics and tests. */
  onCall?: (method: string, path: string, status: number | 'error') => void;
}

interface RawMember {
  id: string;
  email: string;
  orgRole?: SentryOrgRole;
  role?: SentryOrgRole;
  pending?: boolean;
  user?: unknown;
  teamRoles?: { teamSlug: string; role: SentryTeamRole | null }[];
  isOnlyOwner?: boolean;
  flags?: Record<string, boolean>;
  expired?: boolean;
}

const IDEMPOTENT = new Set(['GET', 'PUT', 'DELETE']);

function toMember(raw: RawMember): SentryMember {
  return {
    id: String(raw.id),
    email: raw.email,
    orgRole: raw.orgRole ?? raw.role ?? 'member',
    pending: raw.pending ?? raw.user === null,
    ...(raw.teamRoles ? { teamRoles: raw.teamRoles } : {}),
    ...(raw.isOnlyOwner !== undefined ? { isOnlyOwner: raw.isOnlyOwner } : {}),
    idpProvisioned: raw.flags?.['idp:provisioned'] === true,
    ...(raw.expired !== undefined ? { expired: raw.expired } : {}),
  };
}

/** Sentry's ERR_RATE_LIMITED (core/endpoints/organization_member_utils.py, organization_member_details.py). */
const INVITE_RATE_LIMITED = /rate limited for too many invitations/i;
/**
 * MemberConflictValidationError (core/endpoints/organization_member_utils.py), raised by the invite
 * serializer's validate_email as a 400: the address is a member's, an invite's or an invite request's.
 */
const MEMBER_CONFLICT = /is already a member|has already been invited|existing invite request/i;

/** The `cursor="…"` of the next page when it has results; the Link host is Sentry's url-prefix and is never used. */
export function nextCursor(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(/,\s*(?=<)/)) {
    if (!/rel="next"/.test(part)) continue;
    if (!/results="true"/.test(part)) return undefined;
    return /cursor="([^"]+)"/.exec(part)?.[1];
  }
  return undefined;
}

export class HttpSentryAdmin implements SentryAdmin {
  private readonly base: string;
  private readonly org: string;

  constructor(private readonly o: HttpSentryAdminOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '') + '/api/0';
    this.org = encodeURIComponent(o.organization);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<{ data: T; headers: Headers; status: number }> {
    const retries = IDEMPOTENT.has(method) ? (this.o.retries ?? 3) : 0;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(this.base + path, {
          method,
          headers: {
            Authorization: `Bearer ${this.o.token()}`,
            Accept: 'application/json',
            ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
        });
      } catch (e) {
        this.o.onCall?.(method, path, 'error');
        if (attempt < retries) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new SentryApiError('SENTRY_UNAVAILABLE', `${method} ${path}: ${(e as Error).name === 'TimeoutError' ? 'timed out' : (e as Error).message}`);
      }
      this.o.onCall?.(method, path, res.status);
      const text = await res.text();
      // The invite rate limit counts days, not seconds: its 429 is never retried here.
      if ((res.status === 429 || res.status >= 500) && attempt < retries && !(res.status === 429 && INVITE_RATE_LIMITED.test(text))) {
        await sleep(retryDelay(res.headers, attempt));
        continue;
      }
      let data: unknown = undefined;
      try {
        data = text ? JSON.parse(text) : undefined;
      } catch {
        data = text;
      }
      if (res.ok) return { data: data as T, headers: res.headers, status: res.status };
      throw errorFor(method, path, res.status, data);
    }
  }

  async self(): Promise<SentryMember> {
    return this.getMember('me');
  }

  async getMember(id: string): Promise<SentryMember> {
    const { data } = await this.call<RawMember>('GET', `/organizations/${this.org}/members/${encodeURIComponent(id)}/`);
    return toMember(data);
  }

  async findMemberByEmail(email: string): Promise<SentryMember | null> {
    const q = new URLSearchParams({ query: `email:${email}` });
    const { data } = await this.call<RawMember[]>('GET', `/organizations/${this.org}/members/?${q.toString()}`);
    // Sentry resolves `email:` itself (core/endpoints/organization_member_index.py): the invite's address, or
    // any address of a member's user, while `email` in the answer is that user's primary address. One
    // answer is the member Sentry means, whatever address it shows; with several, only an exact match is.
    if (data.length === 1) return this.getMember(String(data[0]!.id));
    const exact = data.filter((m) => m.email.toLowerCase() === email.toLowerCase());
    if (exact.length === 1) return this.getMember(String(exact[0]!.id));
    if (data.length > 1) {
      throw new SentryApiError('SENTRY_REJECTED', `${data.length} Sentry members answer to ${email}: resolve the duplicate accounts in Sentry`);
    }
    return null;
  }

  async listMembers(): Promise<SentryMember[]> {
    const out: SentryMember[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const q = new URLSearchParams({ per_page: '100', ...(cursor ? { cursor } : {}) });
      const { data, headers } = await this.call<RawMember[]>('GET', `/organizations/${this.org}/members/?${q.toString()}`);
      out.push(...data.map(toMember));
      cursor = nextCursor(headers.get('link'));
      if (!cursor) break;
    }
    return out;
  }

  async inviteMember(email: string, orgRole: SentryOrgRole, teamSlugs: string[]): Promise<SentryMember> {
    const { data } = await this.call<RawMember>('POST', `/organizations/${this.org}/members/`, {
      email,
      orgRole,
      teamRoles: teamSlugs.map((teamSlug) => ({ teamSlug, role: null })),
      sendInvite: false,
    });
    return toMember(data);
  }

  async updateMember(id: string, change: { orgRole?: SentryOrgRole; teamRoles?: { teamSlug: string; role: SentryTeamRole | null }[] }): Promise<SentryMember> {
    const { data } = await this.call<RawMember>('PUT', `/organizations/${this.org}/members/${encodeURIComponent(id)}/`, change);
    return toMember(data);
  }

  async removeMember(id: string): Promise<void> {
    try {
      await this.call('DELETE', `/organizations/${this.org}/members/${encodeURIComponent(id)}/`);
    } catch (e) {
      // Gone already is what we wanted.
      if (!(e instanceof SentryApiError && e.code === 'SENTRY_NOT_FOUND')) throw e;
    }
  }

  async renewInvite(id: string): Promise<SentryMember> {
    // core/endpoints/organization_member_details.py: reinvite with regenerate makes a new token valid 30 days
    // (member:admin scope); the body may hold nothing else; it passes the invite rate limit like an invite.
    const { data } = await this.call<RawMember>('PUT', `/organizations/${this.org}/members/${encodeURIComponent(id)}/`, { reinvite: true, regenerate: true });
    return toMember(data);
  }

  async listTeamSlugs(): Promise<string[]> {
    const out: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const q = new URLSearchParams({ per_page: '100', detailed: '0', ...(cursor ? { cursor } : {}) });
      const { data, headers } = await this.call<{ slug: string }[]>('GET', `/organizations/${this.org}/teams/?${q.toString()}`);
      out.push(...data.map((t) => t.slug));
      cursor = nextCursor(headers.get('link'));
      if (!cursor) break;
    }
    return out;
  }

  async createTeam(slug: string): Promise<void> {
    try {
      await this.call('POST', `/organizations/${this.org}/teams/`, { slug });
    } catch (e) {
      if (!(e instanceof SentryApiError && e.code === 'SENTRY_CONFLICT')) throw e;
      return;
    }
    await this.call('DELETE', `/organizations/${this.org}/members/me/teams/${encodeURIComponent(slug)}/`);
  }

  async ping(): Promise<void> {
    await this.call('GET', `/organizations/${this.org}/`);
  }
}

function backoff(attempt: number): number {
  return Math.min(250 * 2 ** attempt, 5000) * (0.5 + Math.random() / 2);
}

/** Sentry's 429 has no Retry-After; its rate-limit reset header (a Unix time) is the hint when present. */
function retryDelay(headers: Headers, attempt: number): number {
  const reset = Number(headers.get('x-sentry-rate-limit-reset'));
  if (reset > 0) return Math.min(Math.max(0, reset * 1000 - Date.now()) + 100, 30_000);
  const after = Number(headers.get('retry-after'));
  if (after > 0) return Math.min(after * 1000, 30_000);
  return backoff(attempt);
}

function errorFor(method: string, path: string, status: number, data: unknown): SentryApiError {
  const detail = typeof data === 'string' ? data : JSON.stringify(data ?? {}).slice(0, 300);
  const msg = `${method} ${path}: HTTP ${status} ${detail}`;
  if (status === 401 || status === 403) return new SentryApiError('SENTRY_AUTH', msg, status);
  if (status === 404) return new SentryApiError('SENTRY_NOT_FOUND', msg, status);
  if (status === 409 || (status === 400 && MEMBER_CONFLICT.test(detail))) return new SentryApiError('SENTRY_CONFLICT', msg, status);
  if (status === 429 && INVITE_RATE_LIMITED.test(detail)) return new SentryApiError('SENTRY_INVITE_LIMITED', msg, status);
  if (status === 429 || status >= 500) return new SentryApiError('SENTRY_UNAVAILABLE', msg, status);
  return new SentryApiError('SENTRY_REJECTED', msg, status);
}
