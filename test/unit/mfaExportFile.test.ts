// The `mfa export` file: sealed under a passphrase; every header field authenticated; key derivation bounded against crafted files.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openExport, sealExport, type ExportContent } from '../../src/mfa/exportFile.js';

const content: ExportContent = {
  exportedAt: '2027-01-04T09:00:00.000Z',
  people: [{ guid: '0f8fad5b-d9cb-469f-a165-70867728950e', factors: [{ id: 'abc', kind: 'totp', name: 'Phone', createdAt: 1, totpSecret: 'JBSWY3DPEHPK3PXP', lastUsedAt: null }], recoveryHashes: ['h1'] }],
};
const PASS = 'correct horse battery staple';

test('round trip with the passphrase; nothing of the content in clear', () => {
  const text = sealExport(content, PASS);
  assert.ok(!text.includes('JBSWY3DPEHPK3PXP') && !text.includes('0f8fad5b') && !text.includes('Phone'));
  assert.deepEqual(openExport(text, PASS), content);
});

test('a wrong passphrase, a changed header field, a file that is not an export: GW_MFA_EXPORT_INVALID', () => {
  const text = sealExport(content, PASS);
  assert.throws(() => openExport(text, PASS + '!'), { code: 'GW_MFA_EXPORT_INVALID' });
  const env = JSON.parse(text) as { kdf: { N: number; salt: string }; iv: string };
  assert.throws(() => openExport(JSON.stringify({ ...env, kdf: { ...env.kdf, N: 1 << 16 } }), PASS), { code: 'GW_MFA_EXPORT_INVALID' });
  assert.throws(() => openExport(JSON.stringify({ ...env, iv: Buffer.alloc(12).toString('base64') }), PASS), { code: 'GW_MFA_EXPORT_INVALID' });
  assert.throws(() => openExport('{"people": []}', PASS), { code: 'GW_MFA_EXPORT_INVALID' });
  assert.throws(() => openExport('not json', PASS), { code: 'GW_MFA_EXPORT_INVALID' });
});

test('key derivation settings outside the bounds are refused before any work (a crafted N of 2^30)', () => {
  const env = JSON.parse(sealExport(content, PASS)) as { kdf: Record<string, unknown> };
  assert.throws(() => openExport(JSON.stringify({ ...env, kdf: { ...env.kdf, N: 2 ** 30 } }), PASS), /unsupported key derivation/);
  assert.throws(() => openExport(JSON.stringify({ ...env, kdf: { ...env.kdf, r: 64 } }), PASS), /unsupported key derivation/);
});

test('a passphrase shorter than 12 characters is refused', () => {
  assert.throws(() => sealExport(content, 'short'), { code: 'GW_BAD_REQUEST' });
});
