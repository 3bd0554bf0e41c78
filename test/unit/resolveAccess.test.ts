import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveAccess, type AccessPolicy, type GroupRef } from '../../src/mapping/resolveAccess.js';

const g = (name: string, sid = `S-1-5-21-1-2-3-${name.length}${name.charCodeAt(0)}`): GroupRef => ({ name, dn: `CN=${name},OU=Groups,DC=corp,DC=example,DC=com`, sid });
const SRE = g('SRE', 'S-1-5-21-1-2-3-1101');
const BACKEND = g('Backend Devs', 'S-1-5-21-1-2-3-1102');
const USERS = g('Sentry Users', 'S-1-5-21-1-2-3-1103');
const DENIED = g('Sentry Denied', 'S-1-5-21-1-2-3-1104');
const ADMINS = g('Sentry Gateway Admins', 'S-1-5-21-1-2-3-1105');

const policy = (over: Partial<AccessPolicy> = {}): AccessPolicy => ({
  allowGroups: ['Sentry Users'],
  denyGroups: ['Sentry Denied'],
  adminGroups: ['Sentry Gateway Admins'],
  defaultOrgRole: 'member',
  rules: [
    { group: 'sre', orgRole: 'manager', teams: [{ slug: 'sre', role: 'admin' }, { slug: 'backend' }] },
    { group: 'CN=Backend Devs,OU=Groups,DC=corp,DC=example,DC=com', teams: [{ slug: 'backend', role: 'contributor' }] },
    { group: 'S-1-5-21-1-2-3-1105', orgRole: 'owner', teams: [] },
  ],
  ...over,
});

test('access: allow list, deny wins, empty allow list admits anyone not denied', () => {
  const cases: [string, GroupRef[], Partial<AccessPolicy>, boolean, string][] = [
    ['member of the allow group', [USERS], {}, true, 'allow_group'],
    ['not in any allow group', [SRE], {}, false, 'not_in_allow_group'],
    ['allowed and denied: deny wins', [USERS, DENIED], {}, false, 'deny_group'],
    ['no allow list: anyone', [SRE], { allowGroups: [] }, true, 'no_allow_list'],
    ['no allow list but denied', [DENIED], { allowGroups: [] }, false, 'deny_group'],
    ['allow group named by SID', [USERS], { allowGroups: ['s-1-5-21-1-2-3-1103'] }, true, 'allow_group'],
    ['allow group named by DN in other case', [USERS], { allowGroups: ['cn=sentry users,ou=groups,dc=corp,dc=example,dc=com'] }, true, 'allow_group'],
    ['no groups at all', [], {}, false, 'not_in_allow_group'],
  ];
  for (const [name, groups, over, allowed, reason] of cases) {
    const r = resolveAccess(groups, policy(over));
    assert.equal(r.access.allowed, allowed, name);
    assert.equal(r.access.reason, reason, name);
  }
});

test('org role: highest among matched rules, default otherwise', () => {
  const cases: [string, GroupRef[], Partial<AccessPolicy>, string, number | null][] = [
    ['no rule matches', [USERS], {}, 'member', null],
    ['SRE by name, case-insensitive', [USERS, SRE], {}, 'manager', 0],
    ['owner beats manager', [USERS, SRE, ADMINS], {}, 'owner', 2],
    ['a rule without a role leaves the default', [USERS, BACKEND], { defaultOrgRole: 'manager' }, 'manager', null],
  ];
  for (const [name, groups, over, role, rule] of cases) {
    const r = resolveAccess(groups, policy(over));
    assert.equal(r.orgRole, role, name);
    assert.equal(r.orgRoleRule, rule, name);
  }
});

test('teams: union of matched rules, highest team role, and which rules gave each', () => {
  const r = resolveAccess([USERS, SRE, BACKEND], policy());
  assert.deepEqual(r.teams, [
    { slug: 'backend', role: 'contributor', rules: [0, 1] },
    { slug: 'sre', role: 'admin', rules: [0] },
  ]);
  const promoted = resolveAccess([USERS, SRE, BACKEND], policy({ rules: [{ group: 'SRE', teams: [{ slug: 'backend' }] }, { group: 'Backend Devs', teams: [{ slug: 'backend', role: 'admin' }] }] }));
  assert.deepEqual(promoted.teams, [{ slug: 'backend', role: 'admin', rules: [0, 1] }]);
  assert.deepEqual(r.matchedRules, [0, 1]);
});

test('admin only when also allowed', () => {
  assert.equal(resolveAccess([USERS, ADMINS], policy()).isAdmin, true);
  assert.equal(resolveAccess([ADMINS], policy()).isAdmin, false);
  assert.equal(resolveAccess([USERS, ADMINS, DENIED], policy()).isAdmin, false);
});
