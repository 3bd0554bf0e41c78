// Turns the gateway session behind a request into the assertion header value, failing closed:
// a session store we cannot read is a 503, never a trip to the login page (docs/design.md §11).
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import type { Identity } from '../session/identity.js';
import type { SignInFacts } from '../session/signInFacts.js';

export type SessionLookup =
  // signIn: how and when the person proved who they are (`amr`, `auth_time`, `mfa_time`), from the session record.
  | { status: 'ok'; identity: Identity; sessionId: string; signIn?: SignInFacts | undefined }
  | { status: 'none' }
  // Only the password has been passed: a second factor is owed, so this is no session for Sentry.
  | { status: 'pending' }
  // `what` says which dependency failed: the session store, or the directory a revalidation needed.
  | { status: 'unavailable'; what?: 'store' | 'directory' };

export interface SessionDeps {
  lookupSession(req: IncomingMessage): Promise<SessionLookup>;
  assertionFor(identity: Identity, sessionId: string, signIn?: SignInFacts): Promise<string>;
}

/** `secondFactor`: the session has passed only the password; a page load goes to `/_gateway/mfa`, not the sign-in page. */
export type AssertionOutcome = { kind: 'ok'; assertion: string } | { kind: 'none'; secondFactor?: true } | { kind: 'error'; error: GatewayError };

export async function resolveAssertion(req: IncomingMessage, deps: SessionDeps): Promise<AssertionOutcome> {
  let found: SessionLookup;
  try {
    found = await deps.lookupSession(req);
  } catch (cause) {
    return { kind: 'error', error: new GatewayError('GW_SESSION_STORE_UNAVAILABLE', undefined, { cause }) };
  }
  if (found.status === 'none') return { kind: 'none' };
  if (found.status === 'pending') return { kind: 'none', secondFactor: true };
  if (found.status === 'unavailable') {
    return { kind: 'error', error: new GatewayError(found.what === 'directory' ? 'GW_DIRECTORY_UNAVAILABLE' : 'GW_SESSION_STORE_UNAVAILABLE') };
  }
  try {
    return { kind: 'ok', assertion: await deps.assertionFor(found.identity, found.sessionId, found.signIn) };
  } catch (cause) {
    return { kind: 'error', error: new GatewayError('GW_INTERNAL', 'could not sign the assertion', { cause }) };
  }
}
