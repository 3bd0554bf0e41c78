// Which sessions the account page treats as not signed in yet: one that still owes its second factor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { awaitingSecondFactor } from '../../src/http/routes/accountRoutes.js';
import { compileMfaPolicy } from '../../src/mfa/mfaPolicy.js';
import type { StoredSession } from '../../src/session/sessionStore.js';

const decide = compileMfaPolicy({ require: 'never', trustedNetworks: [], requireForGroups: ['Sentry Owners'], enrolFrom: undefined, methods: ['totp'] });
const owner = [{ dn: 'CN=Sentry Owners,OU=Groups,DC=corp,DC=example,DC=com', name: 'Sentry Owners', sid: 'S-1-5-21-1-2-3-1200' }];
const session = (fields: Record<string, unknown>) => ({ status: 'ok', record: { cookie: { originalMaxAge: 1 }, ...fields } as unknown as StoredSession });

test('a session whose record says the second factor is pending, or that the resolver reports pending, is waiting', () => {
  assert.equal(awaitingSecondFactor(session({ amr: ['pwd'], pendingSecondFactor: { until: 1, reason: 'policy' } })), true);
  assert.equal(awaitingSecondFactor({ status: 'pending', record: session({ amr: ['pwd'] }).record }), true);
  assert.equal(awaitingSecondFactor(session({ amr: ['pwd'] })), false, 'nothing pending, no decision asked');
});

test('where the policy asks a factor of the person, a password alone is waiting and a passed factor is not', () => {
  const required = decide({ groups: owner, address: '203.0.113.9', factors: ['totp'] });
  assert.equal(required.required, true);
  assert.equal(awaitingSecondFactor(session({ amr: ['pwd'] }), required), true);
  assert.equal(awaitingSecondFactor(session({ amr: ['pwd', 'otp', 'mfa'], mfaAt: 1 }), required), false);
  const optional = decide({ groups: [], address: '203.0.113.9', factors: [] });
  assert.equal(awaitingSecondFactor(session({ amr: ['pwd'] }), optional), false);
});
