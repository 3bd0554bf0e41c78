import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeChange, effectiveTeamRole, planMembership, planRemoval, type DesiredMembership } from '../../src/provisioning/planMembership.js';
import type { SentryMember } from '../../src/sentry/sentryAdmin.js';

const MANAGED = new Set(['sre', 'backend', 'rnd']);
const want = (orgRole: DesiredMembership['orgRole'], teams: DesiredMembership['teams'] = []): DesiredMembership => ({ email: 'alice@corp.example.com', orgRole, teams });
const member = (over: Partial<SentryMember> = {}): SentryMember => ({ id: '42', email: 'alice@corp.example.com', orgRole: 'member', pending: false, teamRoles: [], isOnlyOwner: false, ...over });

test('effective team role: stored role or the minimum the org role implies', () => {
  assert.equal(effectiveTeamRole(null, 'member'), 'contributor');
  assert.equal(effectiveTeamRole('admin', 'member'), 'admin');
  assert.equal(effectiveTeamRole(null, 'manager'), 'admin');
  assert.equal(effectiveTeamRole('contributor', 'owner'), 'admin');
  assert.equal(effectiveTeamRole(null, 'admin'), 'admin');
});

test('a new person is invited without an email, with teams, and roles set after when Sentry would ignore them', () => {
  const p = planMembership(want('member', [{ slug: 'sre', role: 'admin' }, { slug: 'backend', role: 'contributor' }]), null, MANAGED);
  assert.deepEqual(p.actions, [
    {
      type: 'invite',
      email: 'alice@corp.example.com',
      orgRole: 'member',
      teamSlugs: ['sre', 'backend'],
      thenTeamRoles: [
        { teamSlug: 'sre', role: 'admin' },
        { teamSlug: 'backend', role: 'contributor' },
      ],
    },
  ]);
  assert.deepEqual(p.changes.map(describeChange), ['invite as member', '+ team sre (admin)', '+ team backend (contributor)']);
  const manager = planMembership(want('manager', [{ slug: 'sre', role: 'admin' }]), null, MANAGED);
  assert.equal(manager.actions[0]?.type === 'invite' && manager.actions[0].thenTeamRoles, undefined, 'a manager is team admin anyway: no follow-up');
});

test('nothing to do means no action at all', () => {
  const cases: [string, DesiredMembership, SentryMember][] = [
    ['same role, same teams', want('member', [{ slug: 'backend', role: 'contributor' }]), member({ teamRoles: [{ teamSlug: 'backend', role: null }] })],
    ['manager: stored null already means admin', want('manager', [{ slug: 'sre', role: 'admin' }]), member({ orgRole: 'manager', teamRoles: [{ teamSlug: 'sre', role: null }] })],
    ['unmanaged team left alone', want('member'), member({ teamRoles: [{ teamSlug: 'handmade', role: 'admin' }] })],
    ['pending invite already right', want('member', [{ slug: 'rnd', role: 'contributor' }]), member({ pending: true, teamRoles: [{ teamSlug: 'rnd', role: null }] })],
  ];
  for (const [name, desired, current] of cases) {
    const p = planMembership(desired, current, MANAGED);
    assert.deepEqual(p.actions, [], name);
    assert.deepEqual(p.changes, [], name);
  }
});

test('changes go out as one PUT with the whole team set, unmanaged teams kept as they were', () => {
  const p = planMembership(
    want('manager', [{ slug: 'sre', role: 'admin' }]),
    member({ teamRoles: [{ teamSlug: 'backend', role: null }, { teamSlug: 'handmade', role: 'admin' }] }),
    MANAGED,
  );
  assert.deepEqual(p.changes.map(describeChange), ['role member → manager', '+ team sre (admin)', '− team backend']);
  assert.deepEqual(p.actions, [
    {
      type: 'update',
      memberId: '42',
      orgRole: 'manager',
      teamRoles: [
        { teamSlug: 'handmade', role: 'admin' },
        { teamSlug: 'sre', role: 'admin' },
      ],
    },
  ]);
});

test('a role-only change still sends the team set', () => {
  const p = planMembership(want('owner', [{ slug: 'backend', role: 'contributor' }]), member({ teamRoles: [{ teamSlug: 'backend', role: null }] }), MANAGED);
  assert.deepEqual(p.actions, [{ type: 'update', memberId: '42', orgRole: 'owner', teamRoles: [{ teamSlug: 'backend', role: 'contributor' }] }]);
});

test('team role promotion and demotion', () => {
  const up = planMembership(want('member', [{ slug: 'sre', role: 'admin' }]), member({ teamRoles: [{ teamSlug: 'sre', role: null }] }), MANAGED);
  assert.deepEqual(up.changes.map(describeChange), ['team sre: contributor → admin']);
  const down = planMembership(want('member', [{ slug: 'sre', role: 'contributor' }]), member({ teamRoles: [{ teamSlug: 'sre', role: 'admin' }] }), MANAGED);
  assert.deepEqual(down.changes.map(describeChange), ['team sre: admin → contributor']);
});

test('the last owner is never demoted or removed; SCIM-managed members are left alone', () => {
  const p = planMembership(want('member'), member({ orgRole: 'owner', isOnlyOwner: true }), MANAGED);
  assert.deepEqual(p.actions, []);
  assert.match(p.skipped[0] ?? '', /last owner/);
  assert.deepEqual(planRemoval(member({ orgRole: 'owner', isOnlyOwner: true })).actions, []);
  assert.deepEqual(planRemoval(member()).actions, [{ type: 'remove', memberId: '42' }]);
  assert.deepEqual(planMembership(want('manager'), member({ idpProvisioned: true }), MANAGED).actions, []);
});

test('a retired admin role is replaced by the mapped one', () => {
  const p = planMembership(want('member'), member({ orgRole: 'admin' }), MANAGED);
  assert.deepEqual(p.changes.map(describeChange), ['role admin → member']);
});

test('a pending invite past its expiry is renewed before anything else, and only then', () => {
  const expired = planMembership(want('member'), member({ pending: true, expired: true }), MANAGED);
  assert.deepEqual(expired.actions, [{ type: 'renewInvite', memberId: '42' }]);
  assert.deepEqual(expired.changes.map(describeChange), ['renew the expired invite']);
  assert.deepEqual(planMembership(want('member'), member({ pending: true, expired: false }), MANAGED).actions, []);
  // An accepted member has no invite to renew, whatever a stale flag says.
  assert.deepEqual(planMembership(want('member'), member({ pending: false, expired: true }), MANAGED).actions, []);
});
