// The contract between the sign-in flow and the system's GSSAPI: one Negotiate token in, who it names (or why not) out.
//
// The implementation (gssapiAcceptor.ts) wraps the optional `kerberos` binding; the flow (negotiate.ts) never sees it.

/** Why a token was not accepted; each ends on the sign-in form, with a log line and an audit entry. */
export type KerberosFailure =
  | 'malformed' // not base64, truncated, not a GSS/SPNEGO token at all
  | 'ntlm' // an NTLM blob under Negotiate (browsers send one when they found no Kerberos ticket)
  | 'wrong_service' // a ticket for another service principal, or a key the keytab does not hold
  | 'expired' // the ticket or authenticator is outside the allowed clock skew
  | 'replayed' // an authenticator already accepted once (the flow's Redis replay cache)
  | 'realm_not_allowed' // the principal's realm is not in auth.kerberos.realms
  | 'rejected'; // anything else GSSAPI refused

export class KerberosRejected extends Error {
  constructor(
    readonly reason: KerberosFailure,
    /** GSSAPI's own words, for the log line only: never shown to the person. */
    readonly detail: string,
  ) {
    super(`Kerberos token refused: ${reason}`);
    this.name = 'KerberosRejected';
  }
}

export interface KerberosAcceptance {
  /** The client principal as the KDC named it, e.g. `alice@CORP.EXAMPLE.COM`. */
  principal: string;
  /** base64 of the mutual-authentication token, for `WWW-Authenticate: Negotiate <token>` on the answer, if GSSAPI made one. */
  mutualToken?: string;
}

export interface KerberosAcceptor {
  /** Accepts one base64 token (what follows `Negotiate ` in `Authorization`). Throws KerberosRejected. */
  accept(token: string): Promise<KerberosAcceptance>;
  /** Re-reads auth.kerberos.keytabFile (SIGHUP, the rotation flow); a keytab that cannot be used keeps the old one and throws. */
  reload(): Promise<void>;
}
