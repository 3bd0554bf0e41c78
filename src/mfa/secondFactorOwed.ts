// The one rule for a session that passed only the password: does the second-factor policy, judged now, ask it for a factor?
import type { AuthMethod } from '../session/signInFacts.js';
import type { GroupRef } from '../mapping/resolveAccess.js';
import type { FactorKind, MfaSubject, MfaDecision } from './mfaPolicy.js';

export interface FactorOwedSession {
  /** The session's current groups (refreshed at revalidation). */
  groups: GroupRef[];
  /** How the session was authenticated; one that holds `mfa` owes nothing. */
  amr: readonly AuthMethod[] | undefined;
  /** The kinds of the factors the person has enrolled. */
  factors: readonly FactorKind[];
}

/**
 * True when the session has not passed a second factor and the policy, judged on this request's client address
 * (as `server.trustProxy` derives it) and the session's current groups and factors, requires one. The proxy, the
 * gateway's own pages and the account page all ask this, so they never disagree.
 */
export function secondFactorOwed(decide: (subject: MfaSubject) => MfaDecision, session: FactorOwedSession, address: string | undefined): boolean {
  if ((session.amr ?? []).includes('mfa')) return false;
  return decide({ groups: session.groups, address, factors: session.factors }).required;
}
