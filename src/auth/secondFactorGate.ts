// The one place a re-authentication (and, later, a sign-in) asks whether a second factor must follow the password.
import type { Identity } from '../session/identity.js';

/** Why a second factor must follow: the person enrolled one, or the policy (`mfa.require`) asks for one. */
export interface SecondFactorStep {
  reason: 'enrolled' | 'policy';
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
