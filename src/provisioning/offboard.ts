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
/** The module accepts offboarding assertions that live at most this long. */
const LIFETIME_S = 60;

export interface OffboardTarget {
  sub: string;
  email: string;
  username: string;
  reason: OffboardReason;
}

export interface OffboardResult {
  /** false: Sentry has no user for this person (they never used Sentry): nothing to take away. */
  found: boolean;
  userId?: string;
  deactivated?: boolean;
  tokensRevoked?: number;
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
}

export class Offboarder {
  constructor(private readonly o: OffboarderOptions) {}

  async offboard(t: OffboardTarget): Promise<OffboardResult> {
    let signing;
    try {
      signing = await this.o.keyring.signingKey();
    } catch {
      throw new SentryApiError('SENTRY_AUTH', 'no signing key in assertion.keysDir: cannot sign the offboarding request');
    }
    const iat = Math.floor(this.o.clock.now() / 1000);
    const token = await new SignJWT({ email: t.email, preferred_username: t.username, reason: t.reason })
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'JWT' })
      .setIssuer(this.o.issuer)
      .setAudience(`${this.o.audience}:offboard`)
      .setSubject(t.sub)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + LIFETIME_S)
      .setJti(randomUUID())
      .sign(signing.key);
    const url = this.o.sentryUrl.replace(/\/+$/, '') + OFFBOARD_PATH;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { [this.o.header]: token, Accept: 'application/json', 'Content-Type': 'application/json' },
        body: '{}',
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new SentryApiError('SENTRY_UNAVAILABLE', `POST ${OFFBOARD_PATH}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not the module's answer (an HTML 404 from an older module, a proxy error page): handled below.
    }
    if (res.status === 200 && body.found === true) {
      return {
        found: true,
        ...(body.userId !== undefined ? { userId: String(body.userId) } : {}),
        deactivated: body.deactivated === true,
        tokensRevoked: typeof body.tokensRevoked === 'number' ? body.tokensRevoked : 0,
      };
    }
    if (res.status === 404 && body.found === false) return { found: false };
    if (res.status === 404) {
      throw new SentryApiError('SENTRY_NOT_FOUND', `POST ${OFFBOARD_PATH}: HTTP 404 without the module's answer: is the Sentry-side module installed and current?`, 404);
    }
    if (res.status === 401 || res.status === 403) {
      throw new SentryApiError('SENTRY_AUTH', `POST ${OFFBOARD_PATH}: HTTP ${res.status}: the module refused the gateway's assertion (check its JWKS_URL, ISSUER and AUDIENCE)`, res.status);
    }
    throw new SentryApiError(res.status >= 500 ? 'SENTRY_UNAVAILABLE' : 'SENTRY_REJECTED', `POST ${OFFBOARD_PATH}: HTTP ${res.status}`, res.status);
  }
}

/** The offboarder for this configuration: Sentry at sentry.url (else upstream.url), the sign-in assertion's header, audience and issuer. */
export function buildOffboarder(config: Config, keyring: Keyring, clock: Clock): Offboarder {
  return new Offboarder({
    sentryUrl: config.sentry.url ?? config.upstream.url,
    header: config.assertion.header,
    audience: config.assertion.audience,
    issuer: config.server.publicUrl,
    keyring,
    clock,
  });
}
