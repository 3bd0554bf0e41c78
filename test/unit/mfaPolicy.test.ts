// The second-factor policy: who is asked, why (a stable code for explain), and where a first factor may be enrolled without a link.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GroupRef } from '../../src/mapping/resolveAccess.js';
import { compileMfaPolicy, describeMfaReason, type FactorKind, type MfaPolicyConfig } from '../../src/mfa/mfaPolicy.js';

const g = (name: string, sid: string): GroupRef => ({ name, dn: `CN=${name},OU=Groups,DC=corp,DC=example,DC=com`, sid });
const OWNERS = g('Sentry Owners', 'S-1-5-21-1-2-3-1201');
const USERS = g('Sentry Users', 'S-1-5-21-1-2-3-1202');

const cfg = (over: Partial<MfaPolicyConfig> = {}): MfaPolicyConfig => ({
  require: 'never',
  trustedNetworks: ['10.0.0.0/8', '2001:db8::/32'],
  requireForGroups: [],
  enrolFrom: undefined,
  methods: ['webauthn', 'totp'],
  ...over,
});

test('required, and the reason code with its data', () => {
  const cases: [string, Partial<MfaPolicyConfig>, GroupRef[], string | undefined, FactorKind[], boolean, Record<string, unknown>][] = [
    ['never, nothing enrolled', {}, [USERS], '203.0.113.9', [], false, { code: 'not_required' }],
    ['never, but a factor enrolled of their own accord', {}, [USERS], '10.1.1.1', ['totp'], true, { code: 'enrolled', factors: 1 }],
    ['always, even from a trusted network', { require: 'always' }, [USERS], '10.1.1.1', [], true, { code: 'always' }],
    ['outside, from the internet', { require: 'outside' }, [USERS], '203.0.113.9', [], true, { code: 'outside', address: '203.0.113.9' }],
    ['outside, from a trusted IPv4 network', { require: 'outside' }, [USERS], '10.1.1.1', [], false, { code: 'trusted_network', address: '10.1.1.1', network: '10.0.0.0/8' }],
    ['outside, trusted network, factor enrolled: still trusted', { require: 'outside' }, [USERS], '10.1.1.1', ['webauthn'], false, { code: 'trusted_network', address: '10.1.1.1', network: '10.0.0.0/8' }],
    ['outside, IPv4-mapped IPv6 in a trusted network', { require: 'outside' }, [USERS], '::ffff:10.2.3.4', [], false, { code: 'trusted_network', address: '::ffff:10.2.3.4', network: '10.0.0.0/8' }],
    ['outside, from a trusted IPv6 network', { require: 'outside' }, [USERS], '2001:db8::17', [], false, { code: 'trusted_network', address: '2001:db8::17', network: '2001:db8::/32' }],
    ['outside, next to a trusted network', { require: 'outside' }, [USERS], '11.0.0.1', [], true, { code: 'outside', address: '11.0.0.1' }],
    ['outside, no address known: outside', { require: 'outside' }, [USERS], undefined, [], true, { code: 'outside', address: null }],
    ['outside, an address that does not parse: outside', { require: 'outside' }, [USERS], '10.1.1.1, 203.0.113.9', [], true, { code: 'outside', address: '10.1.1.1, 203.0.113.9' }],
    ['group by name in another case, from a trusted network', { require: 'outside', requireForGroups: ['sentry owners'] }, [USERS, OWNERS], '10.1.1.1', [], true, { code: 'group', group: 'sentry owners' }],
    ['group by SID', { requireForGroups: ['s-1-5-21-1-2-3-1201'] }, [OWNERS], '203.0.113.9', [], true, { code: 'group', group: 's-1-5-21-1-2-3-1201' }],
    ['group by DN', { requireForGroups: ['CN=SENTRY OWNERS,OU=Groups,DC=corp,DC=example,DC=com'] }, [OWNERS], '203.0.113.9', [], true, { code: 'group', group: 'CN=SENTRY OWNERS,OU=Groups,DC=corp,DC=example,DC=com' }],
    ['group listed, not a member', { requireForGroups: ['Sentry Owners'] }, [USERS], '203.0.113.9', [], false, { code: 'not_required' }],
    ['group wins over always as the reason', { require: 'always', requireForGroups: ['Sentry Owners'] }, [OWNERS], '203.0.113.9', [], true, { code: 'group', group: 'Sentry Owners' }],
  ];
  for (const [name, over, groups, address, factors, required, reason] of cases) {
    const d = compileMfaPolicy(cfg(over))({ groups, address, factors });
    assert.equal(d.required, required, name);
    assert.deepEqual(d.reason, reason, name);
    assert.ok(describeMfaReason(d.reason).length > 0, name);
  }
});

test('enrolment: a first factor without a link only from enrolFrom (default trustedNetworks); a further one needs a current factor', () => {
  const cases: [string, Partial<MfaPolicyConfig>, string | undefined, FactorKind[], Record<string, unknown>][] = [
    ['first, from a trusted network (enrolFrom unset)', { require: 'always' }, '10.9.9.9', [], { kind: 'first', withoutLink: true, network: '10.0.0.0/8', afterPassword: false }],
    ['first, from the internet: link needed', { require: 'always' }, '203.0.113.9', [], { kind: 'first', withoutLink: false, address: '203.0.113.9' }],
    ['first, enrolFrom narrower than trustedNetworks', { require: 'always', enrolFrom: ['10.5.0.0/16'] }, '10.9.9.9', [], { kind: 'first', withoutLink: false, address: '10.9.9.9' }],
    ['first, inside enrolFrom', { require: 'always', enrolFrom: ['10.5.0.0/16'] }, '10.5.1.2', [], { kind: 'first', withoutLink: true, network: '10.5.0.0/16', afterPassword: false }],
    ['first, enrolFrom [] : only with a link, even from a trusted network', { require: 'always', enrolFrom: [] }, '10.9.9.9', [], { kind: 'first', withoutLink: false, address: '10.9.9.9' }],
    ['first, no address known', { require: 'always' }, undefined, [], { kind: 'first', withoutLink: false, address: null }],
    ['further, from a trusted network', { require: 'always' }, '10.9.9.9', ['totp'], { kind: 'further', needs: 'current_factor' }],
  ];
  for (const [name, over, address, factors, rule] of cases) {
    const d = compileMfaPolicy(cfg(over))({ groups: [USERS], address, factors });
    assert.deepEqual(d.enrolment, rule, name);
  }
});

test('a session that typed no password (Kerberos) enrols a first factor from enrolFrom only after typing it; a link is unchanged', () => {
  const decide = compileMfaPolicy(cfg({ require: 'always' }));
  assert.deepEqual(decide({ groups: [USERS], address: '10.9.9.9', factors: [], typedPassword: false }).enrolment, { kind: 'first', withoutLink: true, network: '10.0.0.0/8', afterPassword: true });
  assert.deepEqual(decide({ groups: [USERS], address: '10.9.9.9', factors: [], typedPassword: true }).enrolment, { kind: 'first', withoutLink: true, network: '10.0.0.0/8', afterPassword: false });
  assert.deepEqual(decide({ groups: [USERS], address: '203.0.113.9', factors: [], typedPassword: false }).enrolment, { kind: 'first', withoutLink: false, address: '203.0.113.9' });
});

test('the methods offered are mfa.methods', () => {
  assert.deepEqual(compileMfaPolicy(cfg({ methods: ['totp'] }))({ groups: [], address: '10.0.0.1', factors: [] }).methods, ['totp']);
});
