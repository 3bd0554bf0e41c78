// The one place that reads AD's sub-codes, which AD puts only in the text of a bind error
// ("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1").
import { InvalidCredentialsError } from 'ldapts';
import { GatewayError, type ErrorCode } from '../errors.js';
import type { AuthFailureReason } from './directory.js';

const SUB_CODES: Record<string, AuthFailureReason> = {
  '52e': 'invalid_credentials',
  '525': 'no_such_user',
  '530': 'logon_hours',
  '531': 'workstation',
  '532': 'password_expired',
  '533': 'account_disabled',
  '701': 'account_expired',
  '773': 'password_must_change',
  '775': 'account_locked',
};

const ERROR_CODES: Record<AuthFailureReason, ErrorCode> = {
  invalid_credentials: 'GW_INVALID_CREDENTIALS',
  no_such_user: 'GW_INVALID_CREDENTIALS',
  logon_hours: 'GW_LOGON_NOT_PERMITTED',
  workstation: 'GW_LOGON_NOT_PERMITTED',
  password_expired: 'GW_PASSWORD_EXPIRED',
  account_disabled: 'GW_ACCOUNT_DISABLED',
  account_expired: 'GW_ACCOUNT_EXPIRED',
  password_must_change: 'GW_PASSWORD_EXPIRED',
  account_locked: 'GW_ACCOUNT_LOCKED',
};

/** The hex sub-code after "data " in an AD bind error message, lower-cased; undefined when absent. */
export function parseAdSubCode(message: string): string | undefined {
  const m = /\bdata ([0-9a-f]{1,8})\b/i.exec(message);
  return m?.[1]?.toLowerCase().replace(/^0+(?=.)/, '');
}

/**
 * Why AD refused a bind. An invalid-credentials answer without a sub-code we know stays
 * invalid_credentials: showing the generic message is the safe side.
 */
export function reasonFromSubCode(subCode: string | undefined): AuthFailureReason {
  return (subCode !== undefined ? SUB_CODES[subCode] : undefined) ?? 'invalid_credentials';
}

/** The reason behind a user bind's error, or undefined when the error is not a credentials answer. */
export function reasonFromBindError(err: unknown): AuthFailureReason | undefined {
  if (!(err instanceof InvalidCredentialsError)) return undefined;
  return reasonFromSubCode(parseAdSubCode(err.message));
}

export function errorCodeFor(reason: AuthFailureReason): ErrorCode {
  return ERROR_CODES[reason];
}

/** A sign-in the directory refused; `code` follows docs/design.md §7, `reason` keeps the detail for the audit log. */
export class DirectoryAuthError extends GatewayError {
  readonly reason: AuthFailureReason;
  /** AD's raw sub-code when there was one (e.g. "52e"), for the log. */
  readonly subCode: string | undefined;

  constructor(reason: AuthFailureReason, options?: { subCode?: string; cause?: unknown }) {
    super(errorCodeFor(reason), `directory refused the sign-in: ${reason}`, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'DirectoryAuthError';
    this.reason = reason;
    this.subCode = options?.subCode;
  }
}

export function isDirectoryAuthError(e: unknown): e is DirectoryAuthError {
  return e instanceof DirectoryAuthError;
}
