// How and when the person behind a session proved who they are: the assertion's `amr`, `auth_time` and `mfa_time`.
import type { GatewaySessionFields } from './identity.js';

/**
 * RFC 8176 authentication method references the gateway may state. `wia` (Windows integrated authentication):
 * a Kerberos ticket from a domain-joined machine, not a typed password, so Sentry's sudo does not count it.
 */
export type AuthMethod = 'pwd' | 'wia' | 'otp' | 'hwk' | 'swk' | 'mfa';

export interface SignInFacts {
  /** ms: when AD last checked the password (the sign-in, or a later `/_gateway/reauth`); for a Kerberos sign-in, when it happened. */
  authTime?: number;
  /** ms: when a second factor was last checked, if the session passed one. */
  mfaTime?: number;
  /** The methods the session's last authentication used. */
  amr?: readonly AuthMethod[];
}

/**
 * Read from the session record the proxy already has in hand: no extra store round trip. A record
 * from before these fields existed was a password sign-in at `authenticatedAt`.
 */
export function signInFacts(record: GatewaySessionFields): SignInFacts {
  const authTime = record.passwordCheckedAt ?? record.authenticatedAt;
  if (authTime === undefined) return {};
  return {
    authTime,
    ...(record.mfaAt !== undefined ? { mfaTime: record.mfaAt } : {}),
    amr: record.amr && record.amr.length > 0 ? record.amr : ['pwd'],
  };
}
