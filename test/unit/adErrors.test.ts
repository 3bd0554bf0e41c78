import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidCredentialsError, UnwillingToPerformError } from 'ldapts';
import { DirectoryAuthError, errorCodeFor, parseAdSubCode, reasonFromBindError, reasonFromSubCode } from '../../src/directory/adErrors.js';
import { statusOf } from '../../src/errors.js';

const samba = (code: string) => `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data ${code}, v1db1`;
const windows = (code: string) => `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data ${code}, v4563`;

test('sub-codes map to reasons, codes and statuses as docs/design.md §7 says', () => {
  const table = [
    ['52e', 'invalid_credentials', 'GW_INVALID_CREDENTIALS', 401],
    ['525', 'no_such_user', 'GW_INVALID_CREDENTIALS', 401],
    ['530', 'logon_hours', 'GW_LOGON_NOT_PERMITTED', 403],
    ['531', 'workstation', 'GW_LOGON_NOT_PERMITTED', 403],
    ['532', 'password_expired', 'GW_PASSWORD_EXPIRED', 403],
    ['533', 'account_disabled', 'GW_ACCOUNT_DISABLED', 403],
    ['701', 'account_expired', 'GW_ACCOUNT_EXPIRED', 403],
    ['773', 'password_must_change', 'GW_PASSWORD_EXPIRED', 403],
    ['775', 'account_locked', 'GW_ACCOUNT_LOCKED', 423],
  ] as const;
  for (const [sub, reason, code, status] of table) {
    for (const message of [samba(sub), windows(sub), windows(sub.toUpperCase())]) {
      assert.equal(parseAdSubCode(message), sub, message);
      assert.equal(reasonFromSubCode(parseAdSubCode(message)), reason, message);
    }
    assert.equal(errorCodeFor(reason), code);
    assert.equal(statusOf(code), status);
    const err = new DirectoryAuthError(reason, { subCode: sub });
    assert.equal(err.code, code);
    assert.equal(err.status, status);
    assert.equal(err.reason, reason);
  }
});

test('unknown or missing sub-codes fall back to invalid credentials', () => {
  for (const message of ['Invalid credentials during a bind operation.', samba('52f'), 'data zzz', '']) {
    assert.equal(reasonFromSubCode(parseAdSubCode(message)), 'invalid_credentials', message);
  }
});

test('leading zeros and surrounding text do not change the sub-code', () => {
  assert.equal(parseAdSubCode('... data 0000052e, v893 Code: 0x31'), '52e');
  assert.equal(parseAdSubCode('metadata 775'), undefined);
});

test('only invalid-credentials answers carry a reason', () => {
  assert.equal(reasonFromBindError(new InvalidCredentialsError(samba('775'))), 'account_locked');
  assert.equal(reasonFromBindError(new UnwillingToPerformError(samba('775'))), undefined);
  assert.equal(reasonFromBindError(new Error(samba('533'))), undefined);
});
