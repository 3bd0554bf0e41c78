// Whose sessions a typed name means: any form sign-in accepts (`name`, `DOMAIN\name`, `name@upn-suffix`, any case),
// resolved through AD to the person's objectGUID, the key their sessions are indexed under, so a name given to an
// account by a rename in AD finds the sessions it signed in with under its old name.
import type { Store } from 'express-session';
import type { Directory } from '../directory/directory.js';
import { parseUsername, type UsernameRules } from '../directory/parseUsername.js';
import { GatewayError } from '../errors.js';
import { peopleWithSessionsNamed, type SessionIndex } from './sessionIndex.js';

export interface SessionPeople {
  /** The account name, for messages and the audit log (AD's, when AD answered). */
  username: string;
  /** objectGUIDs whose sessions the name means: the one AD names, else those signed in under that account name. */
  subs: string[];
}

/**
 * The same parsing sign-in uses (ldap.netbiosDomain, ldap.upnSuffixes), then AD. An account name AD does not know
 * (deleted since) or cannot be asked about now (outage) still finds sessions signed in under that name; a UPN needs
 * AD (sessions record only the account name), so then it is an error, never a silent "no sessions".
 */
export async function sessionPeopleOf(
  input: string,
  rules: UsernameRules,
  directory: Pick<Directory, 'lookup'>,
  sessions: { index: SessionIndex; store: Store },
): Promise<SessionPeople> {
  const parsed = parseUsername(input, rules);
  if (!parsed) throw new GatewayError('GW_BAD_REQUEST', `${printable(input)} is not an account name of this domain (see ldap.netbiosDomain and ldap.upnSuffixes)`);
  let user;
  try {
    user = await directory.lookup(input);
  } catch (cause) {
    if (parsed.attribute === 'sAMAccountName') return byStoredName(parsed.value, sessions);
    throw new GatewayError('GW_DIRECTORY_UNAVAILABLE', `cannot look ${parsed.value} up in the directory now: give the account name (sAMAccountName) instead`, { cause });
  }
  if (user) return { username: user.sAMAccountName.normalize('NFC').toLowerCase(), subs: [user.guid.toLowerCase()] };
  if (parsed.attribute === 'sAMAccountName') return byStoredName(parsed.value, sessions);
  throw new GatewayError('GW_NOT_FOUND', `no account in the directory has the name ${parsed.value}: give the account name (sAMAccountName) instead`);
}

async function byStoredName(name: string, sessions: { index: SessionIndex; store: Store }): Promise<SessionPeople> {
  const username = name.normalize('NFC').toLowerCase();
  return { username, subs: await peopleWithSessionsNamed(sessions.index, sessions.store, username) };
}

/** The name as typed, cut short and without control characters, for a message. */
function printable(input: string): string {
  return input.slice(0, 256).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, '?');
}
