// The Kerberos sign-in: a Negotiate token → one accepted principal → exactly one AD account → the password sign-in's path.
import { createHash } from 'node:crypto';
import { GatewayError, isGatewayError } from '../../errors.js';
import type { RedisClient } from '../../redis/createRedis.js';
import type { Identity } from '../../session/identity.js';
import type { LoginService } from '../loginService.js';
import { KerberosRejected, type KerberosAcceptor, type KerberosFailure } from './acceptor.js';
import { readTokenBytes } from './tokenBytes.js';

export const REPLAY_PREFIX = 'sag:krb-replay:';
/**
 * How long an accepted authenticator is remembered. GSSAPI takes one whose time is within ± the clock skew (MIT's
 * default 300 s) of its own: 2 × 300 s, and a margin for a KDC or gateway configured with more.
 */
export const REPLAY_TTL_MS = 15 * 60_000;

// C0, DEL and C1 controls and the line separators: never in an account name, and a way to smuggle lines into logs.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

export type PrincipalMapping = { ok: true; account: string; realm: string; name: string } | { ok: false; reason: 'realm_not_allowed' | 'malformed' };

/**
 * `alice@CORP.EXAMPLE.COM` → `CORP\alice` when the realm is a key of `realms`. Only the name part: the account is
 * the one whose sAMAccountName it is, and only when no other account's UPN is the principal (the KDC finds clients
 * by UPN too, so such a ticket may be the other account's: Directory.lookupPrincipal refuses both). A name with `/`
 * (a service or host principal), `@`, `\` or a control character names no person.
 */
export function mapPrincipal(principal: string, realms: Readonly<Record<string, string>>): PrincipalMapping {
  const at = principal.lastIndexOf('@');
  if (at <= 0) return { ok: false, reason: 'malformed' };
  const name = principal.slice(0, at);
  const realm = principal.slice(at + 1);
  if (!Object.hasOwn(realms, realm)) return { ok: false, reason: 'realm_not_allowed' };
  if (name.length > 256 || /[/@\\]/.test(name) || CONTROL.test(name) || name.trim() !== name) return { ok: false, reason: 'malformed' };
  return { ok: true, account: `${realms[realm]}\\${name}`, realm, name };
}

/**
 * Remembers accepted authenticators (the encrypted bytes, authenticatorBytes.ts; never the token's text, which has
 * many spellings) across every replica: true the first time one is seen, false after. Throws when it cannot tell.
 */
export interface ReplayCache {
  firstUse(authenticator: Buffer): Promise<boolean>;
}

export function redisReplayCache(redis: RedisClient): ReplayCache {
  return {
    async firstUse(authenticator) {
      const key = REPLAY_PREFIX + createHash('sha256').update(authenticator).digest('hex');
      return (await redis.set(key, '1', 'PX', REPLAY_TTL_MS, 'NX')) === 'OK';
    },
  };
}

/** Without Redis (development only, one process): the same rule in memory. */
export function memoryReplayCache(now: () => number): ReplayCache {
  const seen = new Map<string, number>();
  return {
    async firstUse(authenticator) {
      const t = now();
      for (const [k, until] of seen) if (until <= t) seen.delete(k);
      const key = createHash('sha256').update(authenticator).digest('hex');
      if (seen.has(key)) return false;
      seen.set(key, t + REPLAY_TTL_MS);
      return true;
    },
  };
}

export interface NegotiateDeps {
  acceptor: KerberosAcceptor;
  realms: Readonly<Record<string, string>>;
  replay: ReplayCache;
  login: LoginService;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export type NegotiateResult =
  | { ok: true; identity: Identity; mutualToken?: string }
  /** `error`: what the form says (an account refusal, or a store that is down); none for a token that was refused. */
  | { ok: false; reason: KerberosFailure | string; error?: GatewayError };

/**
 * One Negotiate sign-in. Every refusal is logged (the reason, never the token) and audited with source
 * `kerberos`; nothing here throws for a bad token, so the route can only show the form.
 */
export async function signInWithNegotiate(d: NegotiateDeps, token: string, address: string): Promise<NegotiateResult> {
  // Every token costs GSSAPI calls, a log line and an audit entry: a flood of bad ones is throttled like passwords.
  try {
    await d.login.takeTokenAllowance(address);
  } catch (e) {
    if (!isGatewayError(e)) throw e;
    const reason = e.code === 'GW_THROTTLED' ? 'throttled' : e.code;
    d.logger.info({ reason }, 'Kerberos token refused');
    d.login.refusedToken(undefined, address, reason, 'kerberos');
    return { ok: false, reason, error: e };
  }
  // What the bytes alone refuse never reaches GSSAPI; what passes has an authenticator to key the replay cache on.
  const read = readTokenBytes(token);
  if ('refused' in read) return refuse(d, address, read.refused, undefined);
  const { authenticator } = read;
  let principal: string | undefined;
  let mutualToken: string | undefined;
  try {
    const accepted = await d.acceptor.accept(token);
    principal = accepted.principal;
    mutualToken = accepted.mutualToken;
  } catch (e) {
    const reason = e instanceof KerberosRejected ? e.reason : 'rejected';
    const detail = e instanceof Error ? e.message : String(e);
    return refuse(d, address, reason, undefined, detail.slice(0, 300));
  }
  const mapped = mapPrincipal(principal, d.realms);
  if (!mapped.ok) return refuse(d, address, mapped.reason, principal);
  // Recorded only once GSSAPI accepted the token: a second use of the same authenticator is a replay, on any replica.
  let first: boolean;
  try {
    first = await d.replay.firstUse(authenticator);
  } catch (e) {
    d.logger.warn({ err: (e as Error).message }, 'Kerberos sign-in refused: the replay cache is unavailable');
    d.login.refusedToken(principal, address, 'GW_SESSION_STORE_UNAVAILABLE', 'kerberos');
    return { ok: false, reason: 'store_unavailable', error: new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'replay cache unavailable') };
  }
  if (!first) return refuse(d, address, 'replayed', principal);
  // A token GSSAPI accepted, for the first time, guessed nothing: its attempt goes back, as a right password's does.
  await d.login.returnTokenAllowance(address);
  try {
    const identity = await d.login.loginChecked(mapped, address, 'kerberos');
    return { ok: true, identity, ...(mutualToken ? { mutualToken } : {}) };
  } catch (e) {
    if (!isGatewayError(e)) throw e;
    d.logger.info({ reason: e.code }, 'Kerberos sign-in refused for the account');
    return { ok: false, reason: e.code, error: e };
  }
}

function refuse(d: NegotiateDeps, address: string, reason: KerberosFailure, principal: string | undefined, detail?: string): NegotiateResult {
  // The reason and GSSAPI's words; the token itself never reaches a log line.
  d.logger.info({ reason, ...(detail ? { gss: detail } : {}) }, 'Kerberos token refused');
  d.login.refusedToken(principal, address, reason, 'kerberos');
  return { ok: false, reason };
}
