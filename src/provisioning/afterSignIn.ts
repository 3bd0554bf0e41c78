// What provisioning does when someone signs in: links them, reactivates them if the gateway had offboarded them, then provisions what the sign-in resolved.
import type { Logger } from 'pino';
import { managedTeams } from '../mapping/ruleStore.js';
import type { AccessPolicy } from '../mapping/resolveAccess.js';
import type { Identity } from '../session/identity.js';
import type { Provisioner } from './provisioner.js';

export interface AfterSignInOptions {
  /** sentry.provisionOnLogin: without it a sign-in only links (and reactivates) the person. */
  provision: boolean;
  logger: Logger;
}

/**
 * The login service's `afterLogin` hook. It takes the identity with the policy it was resolved under, so Sentry gets
 * the role and teams the session holds (no second reading of the rules), and never throws: a sign-in does not fail
 * because Sentry or Redis did.
 */
export function afterSignIn(provisioner: Provisioner, opts: AfterSignInOptions): (identity: Identity, policy: AccessPolicy) => Promise<void> {
  return async (identity, policy) => {
    // Everyone who signs in is remembered as linked (objectGUID -> email), so offboarding can find them later;
    // someone the gateway offboarded is reactivated in Sentry first (no new invite).
    const person = { email: identity.email, username: identity.username, groups: identity.groups, sub: identity.sub };
    const access = { orgRole: identity.orgRole, teams: identity.teams, managedTeams: managedTeams(policy.rules) };
    await provisioner.signedIn(person, access, opts.provision).catch((e: Error) => opts.logger.warn({ err: e.message }, 'link not recorded'));
  };
}
