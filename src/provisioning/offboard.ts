// Takes Sentry access away from a person AD no longer lets in: asks the Sentry-side module (its offboard
// endpoint, config/sentry/sentry_ad_gateway_auth.py) to deactivate their Sentry user and revoke their
// personal API tokens, with a short JWT signed by the gateway's current key under its own audience.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Config } from '../config/schema.js';
import type { Keyring } from '../keys/keyring.js';
import { SentryApiError } from '../sentry/sentryAdmin.js';
import type { Clock } from '../shared/clock.js';
import type { OffboardReason } from './planMembership.js';

export const OFFBOARD_PATH = '/_sentry-ad-gateway/offboard/';
export const REACTIVATE_PATH = '/_sentry-ad-gateway/reactivate/';
/** The module accepts offboarding assertions that live at most this long. */
const LIFETIME_S = 60;

export interface OffboardTarget {
  sub: string;
  email: string;
  username: string;
  reason: OffboardReason;
}

/** An organization auth token (`sntrys_…`) the person created: kept by Sentry and the gateway, named so an admin can rotate it. */
export interface OrgTokenRef {
  id: string;
  organizationId: string;
  name: string;
  lastCharacters: string;
}

export interface OffboardResult {
  /** false: Sentry has no user for this person (they never used Sentry): nothing to take away. */
  found: boolean;
  userId?: string;
  deactivated?: boolean;
  tokensRevoked?: number;
  /** The module refused (409): an account it must not touch holds the address; nothing was done, the link stays open. */
  refused?: { code: string; detail: string };
  orgTokens?: OrgTokenRef[];
  /** The OrganizationMember id the module removed (removeMembers on): Sentry's own API cannot see an inactive user's membership. */
  memberRemoved?: string;
}

export interface ReactivateResult {
  found: boolean;
  reactivated?: boolean;
  refused?: { code: string; detail: string };
}

export interface OffboarderOptions {
  /** Sentry's web address (sentry.url, else upstream.url). */
  sentryUrl: string;
  /** assertion.header */
  header: string;
  /** assertion.audience; the offboarding audience is `<audience>:offboard`. */
  audience: string;
  /** server.publicUrl: the assertion's issuer. */
  issuer: string;
  keyring: Keyring;
  clock: Clock;
  timeoutMs?: number;
  /** sentry.organization when sentry.sync.removeMembers is on: the module removes the person's membership there. */
  removeMemberOf?: string;
}

function refusal(body: Record<string, unknown>): { code: string; detail: string } {
  return { code: typeof body.refused === 'string' ? body.refused : 'GW_ACCOUNT_REFUSED', detail: typeof body.detail === 'string' ? body.detail.slice(0, 300) : '' };
}

function orgTokens(raw: unknown): OrgTokenRef[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((t): t is Record<string, unknown> => typeof t === 'object' && t !== null)
    .map((t) => ({ id: String(t.id ?? ''), organizationId: String(t.organizationId ?? ''), name: String(t.name ?? ''), lastCharacters: String(t.lastCharacters ?? '') }));
}

export class Offboarder {
  constructor(private readonly o: OffboarderOptions) {}

  async offboard(t: OffboardTarget): Promise<OffboardResult> {
    const extra: Record<string, string> = this.o.removeMemberOf ? { remove_member_of: this.o.removeMemberOf } : {};
    const { status, body } = await this.post(OFFBOARD_PATH, ':offboard', t, { reason: t.reason, ...extra });
    if (status === 200 && body.found === true) {
      return {
        found: true,
        ...(body.userId !== undefined ? { userId: String(body.userId) } : {}),
        deactivated: body.deactivated === true,
        tokensRevoked: typeof body.tokensRevoked === 'number' ? body.tokensRevoked : 0,
        orgTokens: orgTokens(body.orgTokens),
        ...(body.memberRemoved !== undefined ? { memberRemoved: String(body.memberRemoved) } : {}),
      };
    }
    if (status === 409 && body.found === true) return { found: true, refused: refusal(body) };
    if (status === 404 && body.found === false) return { found: false };
    throw this.failure(OFFBOARD_PATH, status, body);
  }

  /** AD lets an offboarded person in again: the module reactivates the Sentry user it deactivated (never one an admin did). */
  async reactivate(t: Omit<OffboardTarget, 'reason'>): Promise<ReactivateResult> {
    const { status, body } = await this.post(REACTIVATE_PATH, ':reactivate', t, {});
    if (status === 200 && body.found === true) return { found: true, reactivated: body.reactivated === true };
    if (status === 409 && body.found === true) return { found: true, refused: refusal(body) };
    if (status === 404 && body.found === false) return { found: false };
    throw this.failure(REACTIVATE_PATH, status, body);
  }

  private async post(path: string, audienceSuffix: string, t: Omit<OffboardTarget, 'reason'>, claims: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
    let signing;
    try {
      signing = await this.o.keyring.signingKey();
    } catch {
      throw new SentryApiError('SENTRY_AUTH', `no signing key in assertion.keysDir: cannot sign the request to ${path}`);
    }
    const iat = Math.floor(this.o.clock.now() / 1000);
    const token = await new SignJWT({ email: t.email, preferred_username: t.username, ...claims })
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'JWT' })
      .setIssuer(this.o.issuer)
      .setAudience(`${this.o.audience}${audienceSuffix}`)
      .setSubject(t.sub)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + LIFETIME_S)
      .setJti(randomUUID())
      .sign(signing.key);
    const url = this.o.sentryUrl.replace(/\/+$/, '') + path;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { [this.o.header]: token, Accept: 'application/json', 'Content-Type': 'application/json' },
        body: '{}',
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new SentryApiError('SENTRY_UNAVAILABLE', `POST ${path}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not the module's answer (an HTML 404 from an older module, a proxy error page): handled by the caller.
    }
    return { status: res.status, body: body ?? {} };
  }

  private failure(path: string, status: number, body: Record<string, unknown>): SentryApiError {
    if (status === 404) {
      return new SentryApiError('SENTRY_NOT_FOUND', `POST ${path}: HTTP 404 without the module's answer: is the Sentry-side module installed and current?`, 404);
    }
    if (status === 503 && body.error === 'replay_cache_unavailable') {
      return new SentryApiError('SENTRY_UNAVAILABLE', `POST ${path}: HTTP 503: Sentry's cache (memcached or Redis) is down, so the module cannot guard against replays; retried at the next sync`, 503);
    }
    if (status === 401 || status === 403) {
      return new SentryApiError('SENTRY_AUTH', `POST ${path}: HTTP ${status}: the module refused the gateway's assertion (check its JWKS_URL, ISSUER and AUDIENCE)`, status);
    }
    return new SentryApiError(status >= 500 ? 'SENTRY_UNAVAILABLE' : 'SENTRY_REJECTED', `POST ${path}: HTTP ${status}`, status);
  }
}

/** The offboarder for this configuration: Sentry at sentry.url (else upstream.url), the sign-in assertion's header, audience and issuer. */
export function buildOffboarder(config: Config, keyring: Keyring, clock: Clock, timeoutMs?: number): Offboarder {
  return new Offboarder({
    sentryUrl: config.sentry.url ?? config.upstream.url,
    header: config.assertion.header,
    audience: config.assertion.audience,
    issuer: config.server.publicUrl,
    keyring,
    clock,
    ...(timeoutMs ? { timeoutMs } : {}),
    ...(config.sentry.sync.removeMembers && config.sentry.organization ? { removeMemberOf: config.sentry.organization } : {}),
  });
}
