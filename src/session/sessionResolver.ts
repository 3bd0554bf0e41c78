// The proxy's session check: verify the signed cookie, read the record (briefly cached), enforce timeouts and revalidation.
import type { IncomingMessage } from 'node:http';
import type { Store } from 'express-session';
import signature from 'cookie-signature';
import type { Logger } from 'pino';
import type { FactorKind } from '../shared/factorKind.js';
import type { Clock } from '../shared/clock.js';
import { readCookie } from '../shared/cookies.js';
import type { Identity } from './identity.js';
import { signInFacts, type SignInFacts } from './signInFacts.js';
import { storeOps, type StoredSession } from './sessionStore.js';

export type SessionLookup =
  | { status: 'ok'; identity: Identity; sessionId: string; record: StoredSession; signIn: SignInFacts }
  // The password passed and a second factor is still owed: signed in for nothing but `/_gateway/mfa`.
  | { status: 'pending'; identity: Identity; sessionId: string; record: StoredSession }
  | { status: 'none'; reason?: string }
  | { status: 'unavailable'; what: 'store' | 'directory' };

/** Result of re-reading the account in AD: a fresh identity, or why the session must end. */
export type RevalidationResult = { ok: true; identity: Identity } | { ok: false; reason: string } | { ok: 'unavailable' };

export interface ResolverOptions {
  store: Store;
  secrets: readonly string[];
  cookieName: string;
  /** The cookie's name before `__Host-` was put in front of it (public URL moved to https): no longer read. */
  legacyCookieName?: string;
  idleMs: number;
  absoluteMs: number;
  revalidateMs: number;
  revalidate: (identity: Identity) => Promise<RevalidationResult>;
  onEnded?: (identity: Identity, reason: string, sessionId: string) => void;
  /** The identity changed at revalidation (groups, role, name): anything derived from it must be rebuilt. */
  onIdentityChanged?: (sessionId: string) => void;
  clock: Clock;
  logger: Logger;
  /** How long a replica trusts its in-memory copy of a record. */
  cacheMs?: number;
  /**
   * The second-factor policy, judged on every request for a session that passed only the password; absent when
   * the policy asks nobody (`mfa.require: never`, no `mfa.requireForGroups`), so that case costs nothing.
   */
  secondFactor?: SecondFactorCheck;
}

export interface SecondFactorCheck {
  /** Does this session (current groups, recorded factors) owe a factor when used from this request's address? */
  owed: (identity: Identity, record: StoredSession, req: IncomingMessage) => boolean;
  /** The person's enrolled factor kinds: read at revalidation (and once for a record that has none), never per request. */
  kinds: (sub: string) => Promise<FactorKind[]>;
}

/** Idle tracking writes at most this often per session (docs/design.md §11: no Redis write per request). */
const TOUCH_EVERY_MS = 60_000;

export class SessionResolver {
  private readonly cache = new Map<string, { record: StoredSession | null; at: number }>();
  private readonly inflight = new Map<string, Promise<SessionLookup>>();
  /** Cookie values already verified, with the secret that verified them: one HMAC per session, not per request. */
  private readonly verified = new Map<string, { sid: string; secret: string }>();

  constructor(private readonly o: ResolverOptions) {}

  /** The session id from a signed cookie, or undefined when absent or forged. */
  sessionIdFrom(cookieHeader: string | undefined): string | undefined {
    const raw = readCookie(cookieHeader, this.o.cookieName);
    if (!raw) return void this.noteLegacyCookie(cookieHeader);
    if (!raw.startsWith('s:')) return undefined;
    const known = this.verified.get(raw);
    // A secret retired by rotation takes its cookies with it.
    if (known && this.o.secrets.includes(known.secret)) return known.sid;
    for (const secret of this.o.secrets) {
      const sid = signature.unsign(raw.slice(2), secret);
      if (sid === false) continue;
      // Only genuine cookies are remembered, so forged ones cannot crowd the map.
      if (this.verified.size >= 100_000) this.verified.clear();
      this.verified.set(raw, { sid, secret });
      return sid;
    }
    return undefined;
  }

  private legacyNoted = false;

  /**
   * A sibling subdomain could plant a cookie under the old name, so it is never honoured; but the
   * operator hears once that people are signing in again because of the move to https.
   */
  private noteLegacyCookie(cookieHeader: string | undefined): void {
    const legacy = this.o.legacyCookieName;
    if (this.legacyNoted || !legacy || legacy === this.o.cookieName || !readCookie(cookieHeader, legacy)) return;
    this.legacyNoted = true;
    this.o.logger.info({ cookie: legacy, now: this.o.cookieName }, 'a browser sent the session cookie under its name from before the public URL became https: it is not read, and that person signs in again');
  }

  async lookup(req: IncomingMessage): Promise<SessionLookup> {
    const sid = this.sessionIdFrom(req.headers.cookie);
    if (!sid) return { status: 'none' };
    const pending = this.inflight.get(sid);
    const p = pending ?? this.resolve(sid).finally(() => this.inflight.delete(sid));
    if (!pending) this.inflight.set(sid, p);
    return this.judge(await p, req);
  }

  /**
   * Per request, never shared between concurrent lookups: the same session may come from two addresses. A session
   * the policy now asks a factor of (moved outside the trusted networks, added to a listed group, older than the
   * policy) is treated like one that passed only the password: nothing of it reaches Sentry.
   */
  private judge(found: SessionLookup, req: IncomingMessage): SessionLookup {
    const check = this.o.secondFactor;
    if (!check || found.status !== 'ok' || !check.owed(found.identity, found.record, req)) return found;
    return { status: 'pending', identity: found.identity, sessionId: found.sessionId, record: found.record };
  }

  forget(sid: string): void {
    this.cache.delete(sid);
  }

  /**
   * For connections that outlive a request (WebSockets): is the session still there and inside its
   * timeouts? Never records activity, since an open socket is not a person using Sentry; a session
   * found past a timeout is ended as a request would end it.
   */
  async check(sid: string): Promise<'ok' | 'ended' | 'unavailable'> {
    let record: StoredSession | null;
    try {
      record = await this.read(sid);
    } catch {
      return 'unavailable';
    }
    const identity = record?.passport?.user;
    if (!record || !identity) return 'ended';
    const now = this.o.clock.now();
    const started = record.authenticatedAt ?? 0;
    const reason = now - started > this.o.absoluteMs ? 'absolute_timeout' : now - (record.lastSeenAt ?? started) > this.o.idleMs ? 'idle_timeout' : undefined;
    // A password-only session never holds a socket open.
    if (!reason) return record.pendingSecondFactor ? 'ended' : 'ok';
    const ended = await this.end(sid, identity, reason);
    return ended.status === 'unavailable' ? 'unavailable' : 'ended';
  }

  private async read(sid: string): Promise<StoredSession | null> {
    const now = this.o.clock.now();
    const hit = this.cache.get(sid);
    if (hit && now - hit.at < (this.o.cacheMs ?? 2000)) return hit.record;
    const record = (await storeOps.get(this.o.store, sid)) ?? null;
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(sid, { record, at: now });
    return record;
  }

  private async resolve(sid: string): Promise<SessionLookup> {
    let record: StoredSession | null;
    try {
      record = await this.read(sid);
    } catch (e) {
      this.o.logger.warn({ err: (e as Error).message }, 'session store unavailable');
      return { status: 'unavailable', what: 'store' };
    }
    const identity = record?.passport?.user;
    if (!record || !identity) return { status: 'none' };
    const now = this.o.clock.now();
    const started = record.authenticatedAt ?? 0;
    if (now - started > this.o.absoluteMs) return this.end(sid, identity, 'absolute_timeout');
    const lastSeen = record.lastSeenAt ?? started;
    if (now - lastSeen > this.o.idleMs) return this.end(sid, identity, 'idle_timeout');
    // Read from the record already in hand: no extra round trip. Never revalidated or touched: it lasts minutes.
    const pending = record.pendingSecondFactor;
    if (pending) {
      if (!(now < pending.until)) return this.end(sid, identity, 'second_factor_timeout');
      return { status: 'pending', identity, sessionId: sid, record };
    }

    let dirty = now - lastSeen >= TOUCH_EVERY_MS;
    let current = identity;
    if (now - (record.revalidatedAt ?? started) >= this.o.revalidateMs) {
      const r = await this.o.revalidate(identity);
      if (r.ok === false) return this.end(sid, identity, r.reason);
      if (r.ok === 'unavailable') {
        // A directory blip must not log everyone out, but access may not outlive two intervals unchecked.
        if (now - (record.revalidatedAt ?? started) >= 2 * this.o.revalidateMs) return { status: 'unavailable', what: 'directory' };
      } else {
        // Same name, different account (deleted and re-created): never carry a session across.
        if (r.identity.sub !== identity.sub) return this.end(sid, identity, 'account_replaced');
        current = r.identity;
        if (JSON.stringify(current) !== JSON.stringify(identity)) this.o.onIdentityChanged?.(sid);
        record = { ...record, passport: { ...record.passport, user: current }, revalidatedAt: now };
        dirty = true;
        if (this.o.secondFactor) record = { ...record, factorKinds: undefined };
      }
    }
    // The factors the policy is judged with: read when revalidation refreshed the groups (or never read yet), kept in the record.
    if (this.o.secondFactor && record.factorKinds === undefined && !(record.amr ?? []).includes('mfa')) {
      try {
        record = { ...record, factorKinds: await this.o.secondFactor.kinds(current.sub) };
      } catch (e) {
        // Unknown factors cannot be judged: an outage, never a pass.
        this.o.logger.warn({ err: (e as Error).message }, 'second factors not readable');
        return { status: 'unavailable', what: 'store' };
      }
      dirty = true;
    }
    if (dirty) {
      record = { ...record, lastSeenAt: now };
      try {
        // Our copy may be seconds old: a sign-out or revocation anywhere must not be written back to life,
        // so the write itself checks that the record still exists (SET … XX), with nothing in between.
        if (!(await storeOps.updateIfPresent(this.o.store, sid, record))) {
          this.cache.delete(sid);
          return { status: 'none', reason: 'ended_elsewhere' };
        }
        this.cache.set(sid, { record, at: now });
      } catch (e) {
        this.o.logger.warn({ err: (e as Error).message }, 'session store unavailable');
        return { status: 'unavailable', what: 'store' };
      }
    }
    return { status: 'ok', identity: current, sessionId: sid, record, signIn: signInFacts(record) };
  }

  private async end(sid: string, identity: Identity, reason: string): Promise<SessionLookup> {
    this.cache.delete(sid);
    try {
      await storeOps.destroy(this.o.store, sid);
    } catch (e) {
      this.o.logger.warn({ err: (e as Error).message }, 'session store unavailable');
      return { status: 'unavailable', what: 'store' };
    }
    this.o.onEnded?.(identity, reason, sid);
    return { status: 'none', reason };
  }
}
