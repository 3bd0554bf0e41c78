// The one place a sign-in and a re-authentication ask whether a second factor must follow the password.
import type { Mfa } from '../mfa/buildMfa.js';
import type { FactorKind, MfaDecision } from '../mfa/mfaPolicy.js';
import type { Identity } from '../session/identity.js';

/** Why a second factor must follow: the person enrolled one, or the policy (`mfa.require`) asks for one. */
export interface SecondFactorStep {
  reason: 'enrolled' | 'policy';
  /** The policy's decision, for the step's pages (methods, enrolment rule). */
  decision?: MfaDecision;
  /** The kinds of the factors the person has enrolled. */
  factors?: FactorKind[];
}

/**
 * Answers whether `identity`, signing in from `address`, must also pass a second factor; `null` when the
 * password is enough. When it answers with a step, neither the sign-in nor `/_gateway/reauth` makes a session
 * from the password alone: the session holds only the password until `/_gateway/mfa` is passed.
 */
export type SecondFactorGate = (identity: Identity, address: string) => Promise<SecondFactorStep | null>;

/**
 * Without a factor store (no Redis) and with a policy that asks for nothing: nobody can have a factor to
 * check. Not a check that passes: there is nothing to check.
 */
export const noSecondFactorsYet: SecondFactorGate = async () => null;

/**
 * The real gate: the policy (`mfa`) over the person's groups, the client address as `server.trustProxy`
 * derives it, and the factors they enrolled (one Redis read per sign-in, none per proxied request).
 * A store that cannot be read throws: the sign-in fails closed rather than skipping the factor.
 */
export function policySecondFactorGate(mfa: Pick<Mfa, 'decide' | 'store'>): SecondFactorGate {
  return async (identity, address) => {
    const factors = await mfa.store.kinds(identity.sub);
    const decision = mfa.decide({ groups: identity.groups, address, factors });
    if (!decision.required) return null;
    return { reason: decision.reason.code === 'enrolled' ? 'enrolled' : 'policy', decision, factors };
  };
}

/** Without Redis no factor can be stored: only a policy that asks for none lets anyone in. */
export const noStoreForSecondFactors: SecondFactorGate = async () => ({ reason: 'policy' });
