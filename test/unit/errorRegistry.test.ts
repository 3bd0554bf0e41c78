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

const named = new Map<string, string>();
for (const f of sources('src')) for (const m of readFileSync(f, 'utf8').matchAll(/\bGW_[A-Z0-9_]*[A-Z0-9]\b/g)) if (!named.has(m[0])) named.set(m[0], f);

test('the scan finds the codes the sources name', () => {
  for (const c of ['GW_INVALID_CREDENTIALS', 'GW_PASSWORD_POLICY', 'GW_KEY_ROTATION_PENDING', 'GW_SYNC_REFUSED']) assert.ok(named.has(c), c);
});

test('every GW_* code named under src/ is an ErrorCode with a status', () => {
  const stray = [...named].filter(([code]) => typeof statusOf(code as ErrorCode) !== 'number').map(([code, file]) => `${code} (${file})`);
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
