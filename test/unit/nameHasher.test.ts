import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HASHED_PREFIX, NameHasher } from '../../src/shared/nameHasher.js';
import { filterAudit } from '../../src/audit/auditFilter.js';

test('an unknown name is kept as a keyed hash that the same secret reproduces, and nothing else does', () => {
  const secrets = ['secret-one'];
  const h = new NameHasher(() => secrets);
  const typed = 'Hunter2!Summer';
  const hashed = h.hash(typed);
  assert.match(hashed, new RegExp(`^${HASHED_PREFIX}[0-9a-f]{32}$`));
  assert.ok(!hashed.toLowerCase().includes('hunter2'));
  assert.equal(h.hash('  hunter2!summer '), hashed, 'the same normalisation as sign-in: trimmed, case-folded');
  assert.notEqual(new NameHasher(() => ['another-secret']).hash(typed), hashed, 'without the secret, guesses cannot be tested');
});

test('across a session-secret rotation, entries under the old line stay findable while it is in the file', () => {
  const secrets = ['old'];
  const h = new NameHasher(() => secrets);
  const before = h.hash('typo-name');
  secrets.unshift('new');
  const after = h.hash('typo-name');
  assert.notEqual(after, before, 'new entries use the new first line');
  assert.deepEqual(h.matches('typo-name'), ['typo-name', after, before]);
  secrets.pop();
  assert.ok(!h.matches('typo-name').includes(before), 'once the old line is gone, old entries cannot be matched');
});

test('the audit filter finds a hashed name by what the admin types', () => {
  const h = new NameHasher(() => ['s']);
  const events = [
    { at: '2026-01-05T09:00:00Z', kind: 'login.failure' as const, user: h.hash('P@ssw0rd-typed'), reason: 'no_such_user' },
    { at: '2026-01-05T09:00:01Z', kind: 'login.failure' as const, user: 'alice', reason: 'invalid_credentials' },
  ];
  assert.deepEqual(filterAudit(events, { user: 'P@ssw0rd-typed', userAliases: h.matches('P@ssw0rd-typed') }, 10).map((e) => e.reason), ['no_such_user']);
  assert.deepEqual(filterAudit(events, { user: 'alice', userAliases: h.matches('alice') }, 10).map((e) => e.user), ['alice']);
});
