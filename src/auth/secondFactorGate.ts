// The one place a re-authentication (and, later, a sign-in) asks whether a second factor must follow the password.
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
 * password is enough. The second-factor work (src/mfa/) provides the real one through `Deps.secondFactorGate`.
 * When it answers with a step, `/_gateway/reauth` makes no session from the password alone.
 */
export type SecondFactorGate = (identity: Identity, address: string) => Promise<SecondFactorStep | null>;

/**
 * What is true until second factors exist: nothing can be enrolled and no policy asks for one, so no
 * person has a factor to check. Not a check that passes: there is nothing yet to check.
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
