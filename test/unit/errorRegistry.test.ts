// Every GW_* code the gateway names is one of ErrorCode's, so a caller switches on a typed code with a known status.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GatewayError, statusOf, type ErrorCode } from '../../src/errors.js';
import { PasswordChangeError } from '../../src/directory/changeOwnPassword.js';
import { KeyringError } from '../../src/keys/keyring.js';
import { RuleConflictError } from '../../src/mapping/ruleStore.js';
import { SyncRefusedError } from '../../src/provisioning/fullSync.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Each code with each file that names it. */
const named: [string, string][] = sources('src').flatMap((f) => [...new Set([...readFileSync(f, 'utf8').matchAll(/\bGW_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0]))].map((c): [string, string] => [c, f]));

test('the scan finds the codes the sources name', () => {
  for (const c of ['GW_INVALID_CREDENTIALS', 'GW_PASSWORD_POLICY', 'GW_KEY_ROTATION_PENDING', 'GW_SYNC_REFUSED']) assert.ok(named.some(([code]) => code === c), c);
});

// The Sentry-side module has codes of its own (the refusals it answers with); the fake Sentry under src/dev speaks them
// as the module does. They are the module's to define, in config/sentry, and nowhere else under src/.
const moduleCodes = new Set([...readFileSync('config/sentry/sentry_ad_gateway_auth.py', 'utf8').matchAll(/"(GW_[A-Z0-9_]*[A-Z0-9])"/g)].map((m) => m[1]!));

test('every GW_* code named under src/ is an ErrorCode with a status', () => {
  assert.ok(moduleCodes.has('GW_ACCOUNT_PRIVILEGED'), "the module's own codes are read from its source");
  const stray = [...named]
    .filter(([code, file]) => typeof statusOf(code as ErrorCode) !== 'number' && !(file === join('src', 'dev', 'fakeSentry.ts') && moduleCodes.has(code)))
    .map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(stray, [], `codes outside ErrorCode in src/errors.ts: ${stray.join(', ')}`);
});

test('the errors operators meet in the CLI and the console are gateway errors with their registered code', () => {
  const cases: [GatewayError, ErrorCode][] = [
    [new PasswordChangeError('GW_PASSWORD_POLICY', 'AD refused the new password'), 'GW_PASSWORD_POLICY'],
    [new KeyringError('GW_KEY_ROTATION_PENDING', 'a rotation is already under way'), 'GW_KEY_ROTATION_PENDING'],
    [new RuleConflictError(7), 'GW_MAPPING_CONFLICT'],
    [new SyncRefusedError('would remove 9 of 10 managed members'), 'GW_SYNC_REFUSED'],
  ];
  for (const [e, code] of cases) {
    assert.ok(e instanceof GatewayError, e.name);
    assert.equal(e.code, code);
    assert.equal(e.status, statusOf(code));
  }
});
