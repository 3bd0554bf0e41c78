// Which account a Kerberos principal's name binds to. The KDC finds clients by userPrincipalName as well as by
// sAMAccountName, so a ticket for `bob@REALM` may belong to an account whose UPN is `bob@realm` while another
// account is called `bob`: the lookup asks for both, and only one account, the one called `bob`, is an answer.

/** One match of the lookup: its DN and sAMAccountName. */
export interface KerberosCandidate {
  dn: string;
  sAMAccountName: string;
}

/**
 * The DN the name binds to, or null: no match, more than one (a UPN collision, whoever holds the name), or one
 * whose sAMAccountName is not the name (it matched by its UPN only: the ticket may be that account's).
 */
export function pickKerberosAccount(matches: readonly KerberosCandidate[], name: string): string | null {
  if (matches.length !== 1) return null;
  const only = matches[0]!;
  return only.sAMAccountName.normalize('NFC').toLowerCase() === name.normalize('NFC').toLowerCase() ? only.dn : null;
}

/** The userPrincipalName values a ticket `name@REALM` may have been issued for: the realm as written and lower-cased. */
export function principalUpns(name: string, realm: string): string[] {
  return [...new Set([`${name}@${realm.toUpperCase()}`, `${name}@${realm.toLowerCase()}`])];
}
