// An admin's reset of one person's second factor, the same for the CLI and the console: every factor, recovery code
// and outstanding enrolment link goes, the throttle forgets them, and every session they hold ends. Audited.
import type { AuditLog } from '../audit/auditLog.js';
import type { EnrolLinks } from './enrolLinks.js';
import type { FactorStore } from './factorStore.js';
import { normaliseGuid } from './factorStore.js';
import type { MfaThrottle } from './mfaThrottle.js';

export interface ResetParts {
  store: FactorStore;
  links: EnrolLinks;
  throttle: MfaThrottle;
  audit: AuditLog;
  /** Ends every session of the person with this objectGUID (and tells every replica); returns how many ended. */
  endSessions(guid: string): Promise<number>;
}

export interface ResetResult {
  removed: number;
  sessionsEnded: number;
}

/**
 * Whoever holds a session passed the factor now removed: they sign in again, under the policy as it now stands.
 * Sessions are found by the objectGUID, never by the name, which may have passed to another account.
 */
export async function resetSecondFactor(parts: ResetParts, person: { guid: string; username: string }, actor: string): Promise<ResetResult> {
  const guid = normaliseGuid(person.guid);
  const removed = await parts.store.reset(guid);
  await parts.links.revoke(guid);
  await parts.throttle.clear(guid);
  const sessionsEnded = await parts.endSessions(guid);
  parts.audit.record({ kind: 'mfa.reset', user: person.username, actor, detail: { guid, factors: removed, sessions: sessionsEnded } });
  return { removed, sessionsEnded };
}
