// Signs the identity assertion Sentry's module verifies; one token per session, reused until it nears expiry.
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Clock } from '../shared/clock.js';
import type { Identity } from '../session/identity.js';
import type { SignInFacts } from '../session/signInFacts.js';
import type { Keyring } from './keyring.js';

interface Cached {
  token: string;
  exp: number;
  kid: string;
}

export interface AssertionOptions {
  issuer: string;
  audience: string;
  ttlMs: number;
}

export class AssertionSigner {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    private readonly keyring: Keyring,
    private readonly opts: AssertionOptions,
    private readonly clock: Clock,
  ) {}

  /** A hash of the session id: lets Sentry tie its session to ours without learning our session id. */
  static sessionHash(sessionId: string): string {
    return createHash('sha256').update(sessionId).digest('base64url').slice(0, 32);
  }

  /**
   * `signIn` says how and when the person proved who they are: `auth_time` (when AD last checked the
   * password), `mfa_time` (a second factor) and `amr`; the module bounds sudo by them, skips Sentry's
   * own 2FA only when `amr` has `mfa`, and reactivates only after a fresh sign-in. A session id's
   * facts never change (a re-authentication makes a new session id), so the per-session cache holds.
   */
  async assertionFor(identity: Identity, sessionId: string, signIn: SignInFacts = {}): Promise<string> {
    const now = this.clock.now();
    const cached = this.cache.get(sessionId);
    // Re-sign once less than half the lifetime is left, or when signing has moved to a new key.
    if (cached && cached.exp - now > this.opts.ttlMs / 2 && cached.kid === this.keyring.current().kid) return cached.token;
    const pending = this.inflight.get(sessionId);
    if (pending) return pending;
    const p = this.sign(identity, sessionId, signIn).finally(() => this.inflight.delete(sessionId));
    this.inflight.set(sessionId, p);
    return p;
  }

  private async sign(identity: Identity, sessionId: string, signIn: SignInFacts): Promise<string> {
    const { kid, alg, key } = await this.keyring.signingKey();
    const iat = Math.floor(this.clock.now() / 1000);
    const exp = iat + Math.round(this.opts.ttlMs / 1000);
    const token = await new SignJWT({
      email: identity.email,
      name: identity.name,
      preferred_username: identity.username,
      sid: AssertionSigner.sessionHash(sessionId),
      ...(signIn.authTime !== undefined ? { auth_time: Math.floor(signIn.authTime / 1000) } : {}),
      ...(signIn.mfaTime !== undefined ? { mfa_time: Math.floor(signIn.mfaTime / 1000) } : {}),
      ...(signIn.amr ? { amr: [...signIn.amr] } : {}),
    })
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.audience)
      .setSubject(identity.sub)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key);
    if (this.cache.size > 50_000) this.prune();
    this.cache.set(sessionId, { token, exp: exp * 1000, kid });
    return token;
  }

  forget(sessionId: string): void {
    this.cache.delete(sessionId);
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [k, v] of this.cache) if (v.exp <= now) this.cache.delete(k);
  }
}
