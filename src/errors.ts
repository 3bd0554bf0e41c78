// Every error a user or operator can see carries a stable code; callers switch on `code`, never on message text.

export type ErrorCode =
  | 'GW_BAD_REQUEST'
  | 'GW_BAD_PATH'
  | 'GW_BAD_CONNECTION_HEADER'
  | 'GW_BODY_TIMEOUT'
  | 'GW_CSRF'
  | 'GW_AUTH_REQUIRED'
  | 'GW_INVALID_CREDENTIALS'
  | 'GW_REAUTH_ACCOUNT_MISMATCH'
  | 'GW_SECOND_FACTOR_REQUIRED'
  | 'GW_ACCOUNT_DISABLED'
  | 'GW_ACCOUNT_EXPIRED'
  | 'GW_PASSWORD_EXPIRED'
  | 'GW_LOGON_NOT_PERMITTED'
  | 'GW_ACCOUNT_LOCKED'
  | 'GW_NOT_AUTHORIZED'
  | 'GW_FORBIDDEN'
  | 'GW_THROTTLED'
  | 'GW_DIRECTORY_UNAVAILABLE'
  | 'GW_DIRECTORY_BUSY'
  | 'GW_SESSION_STORE_UNAVAILABLE'
  | 'GW_UPSTREAM_UNAVAILABLE'
  | 'GW_UPSTREAM_TIMEOUT'
  | 'GW_PAYLOAD_TOO_LARGE'
  | 'GW_NOT_FOUND'
  | 'GW_CONFIG_INVALID'
  | 'GW_MFA_CODE_INVALID'
  | 'GW_MFA_CHALLENGE_INVALID'
  | 'GW_MFA_LINK_INVALID'
  | 'GW_MFA_SECRET_UNREADABLE'
  | 'GW_MFA_EXPORT_INVALID'
  | 'GW_MFA_LAST_FACTOR'
  | 'GW_REDIS_NOT_DURABLE'
  | 'GW_PASSWORD_POLICY'
  | 'GW_PASSWORD_OLD_REFUSED'
  | 'GW_PASSWORD_NEEDS_TLS'
  | 'GW_PASSWORD_CHANGE_FAILED'
  | 'GW_PASSWORD_NOT_VERIFIED'
  | 'GW_KEY_ROTATION_PENDING'
  | 'GW_MAPPING_CONFLICT'
  | 'GW_SYNC_REFUSED'
  | 'GW_ACCOUNT_REFUSED'
  | 'GW_INTERNAL';

const STATUS: Record<ErrorCode, number> = {
  GW_BAD_REQUEST: 400,
  GW_BAD_PATH: 400,
  GW_BAD_CONNECTION_HEADER: 400,
  GW_BODY_TIMEOUT: 408,
  GW_CSRF: 403,
  GW_AUTH_REQUIRED: 401,
  GW_INVALID_CREDENTIALS: 401,
  // The password re-typed at /_gateway/reauth belongs to another AD account than the session's (objectGUID).
  GW_REAUTH_ACCOUNT_MISMATCH: 403,
  // A second factor must follow the password (or a current one before adding another): `/_gateway/mfa` first.
  GW_SECOND_FACTOR_REQUIRED: 403,
  GW_ACCOUNT_DISABLED: 403,
  GW_ACCOUNT_EXPIRED: 403,
  GW_PASSWORD_EXPIRED: 403,
  GW_LOGON_NOT_PERMITTED: 403,
  GW_ACCOUNT_LOCKED: 423,
  GW_NOT_AUTHORIZED: 403,
  GW_FORBIDDEN: 403,
  GW_THROTTLED: 429,
  GW_DIRECTORY_UNAVAILABLE: 503,
  GW_DIRECTORY_BUSY: 503,
  GW_SESSION_STORE_UNAVAILABLE: 503,
  GW_UPSTREAM_UNAVAILABLE: 502,
  GW_UPSTREAM_TIMEOUT: 504,
  GW_PAYLOAD_TOO_LARGE: 413,
  GW_NOT_FOUND: 404,
  GW_CONFIG_INVALID: 500,
  // A wrong, reused or expired TOTP or recovery code, or a WebAuthn response that does not verify.
  GW_MFA_CODE_INVALID: 401,
  // A WebAuthn or enrolment challenge that is unknown, expired or already used.
  GW_MFA_CHALLENGE_INVALID: 400,
  // An enrolment link that is unknown, expired or already used.
  GW_MFA_LINK_INVALID: 403,
  // A stored factor secret no key in mfa.keyFile opens (wrong key file, or a record moved between people).
  GW_MFA_SECRET_UNREADABLE: 500,
  // An `mfa import` file that is not an export, was altered, or needs another passphrase.
  GW_MFA_EXPORT_INVALID: 400,
  // Removing a person's last factor while the policy requires one of them.
  GW_MFA_LAST_FACTOR: 409,
  // Factors are credentials: a Redis that may drop them (no persistence, eviction) is refused.
  GW_REDIS_NOT_DURABLE: 500,
  // bind-password rotate: AD refused the new password (history, minimum age, complexity, length). Nothing changed.
  GW_PASSWORD_POLICY: 422,
  // bind-password rotate: AD refused the current password from the file (it does not hold what AD has). Nothing changed.
  GW_PASSWORD_OLD_REFUSED: 409,
  // bind-password rotate: AD changes passwords only over LDAPS or StartTLS, and the connection is plain LDAP.
  GW_PASSWORD_NEEDS_TLS: 500,
  // bind-password rotate: no domain controller could be reached, or one answered something else.
  GW_PASSWORD_CHANGE_FAILED: 503,
  // bind-password rotate: AD took the new password, but a bind with it did not succeed on every DC yet.
  GW_PASSWORD_NOT_VERIFIED: 503,
  // keys rotate while an earlier rotation's key has not started signing yet.
  GW_KEY_ROTATION_PENDING: 409,
  // The mapping rules changed since the editor loaded them (another admin saved first).
  GW_MAPPING_CONFLICT: 409,
  // A full sync whose plan trips a safety limit (e.g. would remove too many members) without --force.
  GW_SYNC_REFUSED: 409,
  // Sentry's module refused to reactivate or offboard an account without naming a code of its own.
  GW_ACCOUNT_REFUSED: 409,
  GW_INTERNAL: 500,
};

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra headers the response must carry (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(message ?? code, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'GatewayError';
    this.code = code;
    this.status = STATUS[code];
    this.headers = options?.headers ?? {};
  }
}

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}

export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}
