// What a gateway session knows about the person: written at sign-in, refreshed on revalidation.
import type { AuthMethod } from './signInFacts.js';
import type { FactorKind } from '../shared/factorKind.js';

export interface SessionGroup {
  dn: string;
  name: string;
  sid: string;
}

export interface Identity {
  /** AD objectGUID: the assertion's `sub`. */
  sub: string;
  username: string;
  email: string;
  name: string;
  dn: string;
  groups: SessionGroup[];
  orgRole: 'member' | 'manager' | 'owner';
  teams: { slug: string; role: 'contributor' | 'admin' }[];
  isAdmin: boolean;
}

/** The record express-session stores under `sess:<id>`; the proxy fast path reads the same JSON. */
export interface GatewaySessionFields {
  identity?: Identity;
  /** ms since epoch when the person signed in (absolute timeout). Re-authenticating does not move it. */
  authenticatedAt?: number;
  /** ms since epoch when AD last checked the password: the sign-in or a later `/_gateway/reauth` (`auth_time`). */
  passwordCheckedAt?: number;
  /** ms since epoch when a second factor was last checked (`mfa_time`); absent until one is. */
  mfaAt?: number;
  /** RFC 8176 methods of the last authentication (`amr`): `['pwd']` for a password sign-in. */
  amr?: AuthMethod[];
  /** ms since epoch of the last successful AD re-check. */
  revalidatedAt?: number;
  /**
   * The kinds of second factor the person had enrolled, as last read (filled on the first request the policy is
   * judged for, refreshed at every revalidation): the proxy judges the policy without a Redis read per request.
   */
  factorKinds?: FactorKind[];
  /** ms since epoch of the last request seen (idle timeout), updated at most about once a minute. */
  lastSeenAt?: number;
  /**
   * Set while the person has passed the password and still owes a second factor (`/_gateway/mfa`): such a
   * session is signed in for nothing else, and ends at `until` (ms since epoch) if the factor never comes.
   */
  pendingSecondFactor?: PendingSecondFactor;
  /** An admin's one-time enrolment link, taken from the URL into the session; spent when a first factor is enrolled. */
  enrolLink?: string;
  csrfSecret?: string;
  clientAddress?: string;
  userAgent?: string;
}

/** The password-only state of a session that must still pass a second factor. */
export interface PendingSecondFactor {
  /** ms since epoch: the state (and the session) ends then. */
  until: number;
  /** Why a factor is asked: the person enrolled one, or the policy requires one. */
  reason: 'enrolled' | 'policy';
  /** The step started at `/_gateway/reauth` rather than at sign-in (audit only). */
  reauth?: boolean;
}

/** How long the password-only state lasts before the person must sign in again. */
export const PENDING_SECOND_FACTOR_MS = 10 * 60_000;
