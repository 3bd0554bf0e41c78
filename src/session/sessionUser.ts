// The name a person's sessions are indexed under (their sAMAccountName, lower case), from any form of
// it sign-in accepts: `name`, `DOMAIN\name`, `name@upn-suffix`, in any case.
import type { Directory } from '../directory/directory.js';
import { parseUsername, type UsernameRules } from '../directory/parseUsername.js';
import { GatewayError } from '../errors.js';

/**
 * The same parsing sign-in uses (ldap.netbiosDomain, ldap.upnSuffixes). A UPN may differ from the
 * account name, so it is looked up in AD; a directory outage is an error, never a silent "no sessions".
 */
export async function sessionUserOf(input: string, rules: UsernameRules, directory: Pick<Directory, 'lookup'>): Promise<string> {
  const parsed = parseUsername(input, rules);
  if (!parsed) throw new GatewayError('GW_BAD_REQUEST', `${printable(input)} is not an account name of this domain (see ldap.netbiosDomain and ldap.upnSuffixes)`);
  if (parsed.attribute === 'sAMAccountName') return parsed.value;
  let user;
  try {
    user = await directory.lookup(input);
  } catch (cause) {
    throw new GatewayError('GW_DIRECTORY_UNAVAILABLE', `cannot look ${parsed.value} up in the directory now: give the account name (sAMAccountName) instead`, { cause });
  }
  if (!user) throw new GatewayError('GW_NOT_FOUND', `no account in the directory has the name ${parsed.value}: give the account name (sAMAccountName) instead`);
  return user.sAMAccountName.normalize('NFC').toLowerCase();
}

/** The name as typed, cut short and without control characters, for a message. */
function printable(input: string): string {
  return input.slice(0, 256).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, '?');
}
