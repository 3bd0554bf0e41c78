// Tests of the fake Sentry itself, over real HTTP: each documented quirk, the fault switches, and
// the contract checking that makes a malformed request or response fail loudly.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { assertNoViolations, startFakeSentry, type FakeSentry, type FakeSentryOptions } from '../../src/dev/fakeSentry.js';

const TOKEN = 'sntryu_test-token';
let current: FakeSentry[] = [];

async function fakeSentry(opts: FakeSentryOptions = {}): Promise<FakeSentry> {
  const fake = await startFakeSentry({ token: TOKEN, ...opts });
  current.push(fake);
  return fake;
}

afterEach(async () => {
  const fakes = current;
  current = [];
  try {
    for (const f of fakes) assertNoViolations(f);
  } finally {
    await Promise.all(fakes.map((f) => f.close()));
  }
});

interface Res {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function api(fake: FakeSentry, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Res> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${fake.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

const M = '/api/0/organizations/acme/members/';
const T = '/api/0/organizations/acme/teams/';

test('a bad or missing token gets 401 with a DRF body, on every endpoint', async () => {
  const fake = await fakeSentry();
  const bad = await api(fake, 'GET', M, undefined, 'wrong');
  assert.equal(bad.status, 401);
  assert.deepEqual(bad.body, { detail: 'Invalid token' });
  const none = await api(fake, 'GET', M, undefined, null);
  assert.equal(none.status, 401);
  assert.deepEqual(none.body, { detail: 'Authentication credentials were not provided.' });
  // The teams list's schema lists no 401; the real auth layer answers it anyway.
  assert.equal((await api(fake, 'GET', T, undefined, 'wrong')).status, 401);
  assert.equal((await api(fake, 'GET', '/api/0/organizations/acme/', undefined, 'wrong')).status, 401);
  assert.equal((await api(fake, 'GET', '/api/0/organizations/acme/')).status, 200);
  assert.equal((await api(fake, 'GET', '/api/0/organizations/other/')).status, 404);
});

test('the token user is an Owner member that shows in the members list', async () => {
  const fake = await fakeSentry();
  const list = await api(fake, 'GET', M);
  assert.equal(list.status, 200);
  assert.equal(list.body.length, 1);
  assert.equal(list.body[0].email, fake.tokenUser.email);
  assert.equal(list.body[0].orgRole, 'owner');
  const me = await api(fake, 'GET', `${M}me/`);
  assert.equal(me.body.id, fake.tokenUser.memberId);
  assert.equal(me.body.isOnlyOwner, true);
});

test('inviting an email that already has a Sentry user still creates a pending invite with user null', async () => {
  const fake = await fakeSentry();
  fake.addTeam('backend');
  fake.addUser('alice@corp.example', 'Alice');
  const res = await api(fake, 'POST', M, { email: 'alice@corp.example', orgRole: 'manager', teamRoles: [{ teamSlug: 'backend', role: 'admin' }], sendInvite: false });
  assert.equal(res.status, 201);
  assert.equal(res.body.pending, true);
  assert.equal(res.body.user, null);
  assert.equal(res.body.inviteStatus, 'approved');
  const snap = fake.member('alice@corp.example')!;
  assert.equal(snap.pending, true);
  assert.equal(snap.sendInvite, false);
  assert.equal(snap.invitesSent, 0);
  // The role part of teamRoles is ignored at invite time.
  assert.deepEqual(snap.teams, { backend: null });
  const detail = await api(fake, 'GET', `${M}${res.body.id}/`);
  assert.equal(detail.status, 200);
  assert.deepEqual(detail.body.teams, ['backend']);
  assert.deepEqual(detail.body.teamRoles, [{ teamSlug: 'backend', role: null }]);
  assert.match(detail.body.invite_link, new RegExp(`^${fake.urlPrefix}/accept/acme/${res.body.id}/[0-9a-f]+/$`));
  assert.ok(detail.body.orgRoleList.some((r: { id: string }) => r.id === 'owner'));

  const accepted = fake.acceptInvite('alice@corp.example');
  assert.equal(accepted.pending, false);
  assert.ok(accepted.userId);
  const after = await api(fake, 'GET', `${M}${res.body.id}/`);
  assert.equal(after.body.pending, false);
  assert.equal(after.body.user.email, 'alice@corp.example');
  assert.equal(after.body.invite_link, null);
});

test('a duplicate email, member or pending invite, is 400 on `email`, never 409', async () => {
  const fake = await fakeSentry();
  fake.addMember({ email: 'bob@corp.example' });
  const dupMember = await api(fake, 'POST', M, { email: 'Bob@corp.example' });
  assert.equal(dupMember.status, 400);
  assert.deepEqual(dupMember.body, { email: ['The user Bob@corp.example is already a member'] });
  assert.equal((await api(fake, 'POST', M, { email: 'carol@corp.example' })).status, 201);
  const dupInvite = await api(fake, 'POST', M, { email: 'carol@corp.example' });
  assert.equal(dupInvite.status, 400);
  // MemberConflictValidationError (organization_member_utils.py) words a pending invite differently.
  assert.deepEqual(dupInvite.body, { email: ['The user carol@corp.example has already been invited'] });
});

test('a member is matched through any address of its user: the list query and the duplicate check', async () => {
  const fake = await fakeSentry();
  const uid = fake.addUser('dana.primary@corp.example', 'Dana', { emails: [{ email: 'dana@corp.example', verified: true }, { email: 'dana.old@corp.example', verified: false }] });
  fake.addMember({ email: 'dana.primary@corp.example' });
  assert.equal(fake.member('dana.primary@corp.example')?.userId, uid);
  for (const address of ['dana@corp.example', 'DANA.OLD@corp.example', 'dana.primary@corp.example']) {
    const res = await api(fake, 'GET', `${M}?query=${encodeURIComponent(`email:${address}`)}`);
    // The answer names the user's primary address, not the one asked for.
    assert.deepEqual(res.body.map((m: { email: string }) => m.email), ['dana.primary@corp.example'], address);
  }
  const dup = await api(fake, 'POST', M, { email: 'dana@corp.example' });
  assert.equal(dup.status, 400);
  assert.deepEqual(dup.body, { email: ['The user dana@corp.example is already a member'] });
});

test('invite rate limits: 100 a day per organization, 10 a day per email, 429 without a reset header; off with the feature', async () => {
  let now = Date.UTC(2026, 0, 5, 12);
  const fake = await fakeSentry({ now: () => now });
  for (let i = 0; i < 100; i++) assert.equal((await api(fake, 'POST', M, { email: `p${i}@corp.example`, sendInvite: false })).status, 201);
  const refused = await api(fake, 'POST', M, { email: 'p100@corp.example', sendInvite: false });
  assert.equal(refused.status, 429);
  assert.deepEqual(refused.body, { detail: 'You are being rate limited for too many invitations.' });
  assert.equal(refused.headers.get('retry-after'), null);
  assert.equal(refused.headers.get('x-sentry-rate-limit-reset'), null);
  // A duplicate is refused by validation first and never reaches the limiter.
  assert.equal((await api(fake, 'POST', M, { email: 'p1@corp.example' })).status, 400);
  // Windows are whole UTC days since the epoch: the next day starts afresh.
  now = Date.UTC(2026, 0, 6, 0, 0, 1);
  assert.equal((await api(fake, 'POST', M, { email: 'p100@corp.example', sendInvite: false })).status, 201);
  assert.equal(fake.inviteRateLimitHits(), 1);

  const perEmail = await fakeSentry({ now: () => now, organization: 'acme' });
  const inv = (await api(perEmail, 'POST', M, { email: 'q@corp.example', sendInvite: false })).body;
  for (let i = 0; i < 9; i++) assert.equal((await api(perEmail, 'PUT', `${M}${inv.id}/`, { reinvite: true })).status, 200);
  assert.equal((await api(perEmail, 'PUT', `${M}${inv.id}/`, { reinvite: true })).status, 429, 'the 11th invite of one address in a day');

  const off = await fakeSentry({ inviteRateLimits: false });
  for (let i = 0; i < 110; i++) assert.equal((await api(off, 'POST', M, { email: `r${i}@corp.example`, sendInvite: false })).status, 201);
});

test('an invite expires after 30 days; reinvite with regenerate renews it and sends the invitation email', async () => {
  let now = Date.UTC(2026, 0, 5);
  const fake = await fakeSentry({ now: () => now });
  const inv = (await api(fake, 'POST', M, { email: 's@corp.example', sendInvite: false })).body;
  assert.equal(inv.expired, false);
  now += 31 * 24 * 3600_000;
  assert.equal((await api(fake, 'GET', `${M}${inv.id}/`)).body.expired, true);
  assert.equal((await api(fake, 'PUT', `${M}${inv.id}/`, { reinvite: true })).status, 400);
  const renewed = await api(fake, 'PUT', `${M}${inv.id}/`, { reinvite: true, regenerate: true });
  assert.equal(renewed.status, 200);
  assert.equal(renewed.body.expired, false);
  assert.equal(fake.member('s@corp.example')!.invitesSent, 1, 'Sentry emails the renewed invitation');
});

test('personal API tokens: a token of an active user works; an inactive user or an unknown token gets 401', async () => {
  const fake = await fakeSentry();
  fake.addMember({ email: 'tok@corp.example' });
  const uid = fake.member('tok@corp.example')!.userId!;
  const personal = fake.addApiToken(uid);
  assert.equal((await api(fake, 'GET', '/api/0/organizations/acme/', undefined, personal)).status, 200);
  assert.deepEqual((await api(fake, 'GET', '/api/0/organizations/acme/', undefined, 'nope')).body, { detail: 'Invalid token' });
  const other = fake.addApiToken(fake.addUser('gone@corp.example', 'Gone', { isActive: false }));
  const inactive = await api(fake, 'GET', '/api/0/organizations/acme/', undefined, other);
  assert.equal(inactive.status, 401);
  assert.deepEqual(inactive.body, { detail: 'User inactive or deleted' });
});

test('invite validation: retired admin, unknown team, billing only on sentry.io', async () => {
  const fake = await fakeSentry();
  const admin = await api(fake, 'POST', M, { email: 'd@corp.example', orgRole: 'admin' });
  assert.equal(admin.status, 400);
  assert.deepEqual(admin.body, { orgRole: ["The role 'admin' is deprecated and may no longer be assigned."] });
  const team = await api(fake, 'POST', M, { email: 'd@corp.example', teamRoles: [{ teamSlug: 'nope', role: null }] });
  assert.equal(team.status, 400);
  assert.deepEqual(team.body, { teamRoles: ['Invalid teams'] });
  assert.equal((await api(fake, 'POST', M, { email: 'd@corp.example', orgRole: 'billing' })).status, 400);
  fake.setSaasMode(true);
  assert.equal((await api(fake, 'POST', M, { email: 'd@corp.example', orgRole: 'billing' })).status, 201);
  assert.equal(fake.member('d@corp.example')?.orgRole, 'billing');
});

test('PUT teamRoles replaces the whole team set; raising the org role nulls redundant team roles', async () => {
  const fake = await fakeSentry();
  for (const t of ['alpha', 'beta', 'gamma']) fake.addTeam(t);
  const m = fake.addMember({ email: 'eve@corp.example', teams: { alpha: 'admin', beta: null } });
  const res = await api(fake, 'PUT', `${M}${m.id}/`, { teamRoles: [{ teamSlug: 'gamma', role: 'admin' }, { teamSlug: 'beta', role: 'contributor' }] });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.teams, ['beta', 'gamma']);
  assert.deepEqual(fake.member('eve@corp.example')!.teams, { beta: 'contributor', gamma: 'admin' });

  const promoted = await api(fake, 'PUT', `${M}${m.id}/`, { orgRole: 'manager' });
  assert.equal(promoted.status, 200);
  assert.equal(promoted.body.orgRole, 'manager');
  // Manager implies team admin, so both stored roles add nothing and become null.
  assert.deepEqual(fake.member('eve@corp.example')!.teams, { beta: null, gamma: null });
  assert.deepEqual(fake.member('eve@corp.example')!.effectiveTeamRoles, { beta: 'admin', gamma: 'admin' });

  const cleared = await api(fake, 'PUT', `${M}${m.id}/`, { teamRoles: [] });
  assert.deepEqual(cleared.body.teams, []);
  assert.equal((await api(fake, 'PUT', `${M}${m.id}/`, { orgRole: 'admin' })).status, 400);
  assert.equal((await api(fake, 'PUT', `${M}999/`, { orgRole: 'member' })).status, 404);
});

test('the token user cannot change its own role', async () => {
  const fake = await fakeSentry();
  const res = await api(fake, 'PUT', `${M}me/`, { orgRole: 'member' });
  assert.equal(res.status, 400);
  assert.deepEqual(res.body, { detail: 'You cannot make changes to your own role.' });
  assert.equal(fake.member(fake.tokenUser.email)?.orgRole, 'owner');
});

test('re-invite: only alone, only for pending invites, expired needs regenerate', async () => {
  const fake = await fakeSentry();
  const invited = (await api(fake, 'POST', M, { email: 'f@corp.example' })).body;
  assert.equal(fake.member('f@corp.example')!.invitesSent, 1);
  assert.equal((await api(fake, 'PUT', `${M}${invited.id}/`, { reinvite: true })).status, 200);
  assert.equal(fake.member('f@corp.example')!.invitesSent, 2);
  assert.equal((await api(fake, 'PUT', `${M}${invited.id}/`, { reinvite: true, orgRole: 'manager' })).status, 403);
  const full = fake.addMember({ email: 'g@corp.example' });
  assert.equal((await api(fake, 'PUT', `${M}${full.id}/`, { reinvite: true })).status, 400);
  const old = fake.addMember({ email: 'h@corp.example', pending: true, expired: true });
  assert.equal((await api(fake, 'PUT', `${M}${old.id}/`, { reinvite: true })).status, 400);
  assert.equal((await api(fake, 'PUT', `${M}${old.id}/`, { reinvite: true, regenerate: true })).status, 200);
  assert.equal(fake.member('h@corp.example')!.expired, false);
});

test('deleting the only owner is refused with 403; other owners and invites can be removed', async () => {
  const fake = await fakeSentry();
  const only = await api(fake, 'DELETE', `${M}me/`);
  assert.equal(only.status, 403);
  assert.deepEqual(only.body, { detail: 'You cannot remove the only remaining owner of the organization.' });
  // A pending owner invite does not count as a second owner.
  fake.addMember({ email: 'pending-owner@corp.example', orgRole: 'owner', pending: true });
  assert.equal((await api(fake, 'DELETE', `${M}${fake.tokenUser.memberId}/`)).status, 403);
  const other = fake.addMember({ email: 'owner2@corp.example', orgRole: 'owner' });
  const del = await api(fake, 'DELETE', `${M}${other.id}/`);
  assert.equal(del.status, 204);
  assert.equal(del.body, undefined);
  assert.equal(fake.member('owner2@corp.example'), undefined);
  assert.equal((await api(fake, 'DELETE', `${M}${other.id}/`)).status, 404);
  const idp = fake.addMember({ email: 'scim@corp.example', idpProvisioned: true });
  assert.equal((await api(fake, 'DELETE', `${M}${idp.id}/`)).status, 403);
});

test('creating a team adds the token user to it; a duplicate slug is 409', async () => {
  const fake = await fakeSentry();
  const created = await api(fake, 'POST', T, { slug: 'platform' });
  assert.equal(created.status, 201);
  assert.equal(created.body.slug, 'platform');
  assert.equal(created.body.isMember, true);
  assert.deepEqual(fake.member(fake.tokenUser.email)!.teams, { platform: null });
  const dup = await api(fake, 'POST', T, { slug: 'platform' });
  assert.equal(dup.status, 409);
  assert.deepEqual(dup.body.non_field_errors, ['A team with this slug already exists.']);
  // Dropping the provisioner again, with `me` as the member id.
  const left = await api(fake, 'DELETE', '/api/0/organizations/acme/members/me/teams/platform/');
  assert.equal(left.status, 200);
  assert.equal(left.body.isMember, false);
  assert.deepEqual(fake.member(fake.tokenUser.email)!.teams, {});
});

test('member-team: POST 201 then 204, PUT teamRole, DELETE 200 even when absent', async () => {
  const fake = await fakeSentry();
  fake.addTeam('ops');
  const m = fake.addMember({ email: 'ivan@corp.example' });
  const path = `/api/0/organizations/acme/members/${m.id}/teams/ops/`;
  const added = await api(fake, 'POST', path);
  assert.equal(added.status, 201);
  assert.equal(added.body.slug, 'ops');
  const again = await api(fake, 'POST', path);
  assert.equal(again.status, 204);
  assert.equal(again.body, undefined);
  const role = await api(fake, 'PUT', path, { teamRole: 'admin' });
  assert.deepEqual(role, { ...role, status: 200, body: { isActive: true, teamRole: 'admin' } });
  assert.deepEqual(fake.member('ivan@corp.example')!.teams, { ops: 'admin' });
  // contributor adds nothing over a member's minimum, so it is stored as null.
  assert.deepEqual((await api(fake, 'PUT', path, { teamRole: 'contributor' })).body, { isActive: true, teamRole: 'contributor' });
  assert.deepEqual(fake.member('ivan@corp.example')!.teams, { ops: null });
  assert.equal((await api(fake, 'DELETE', path)).status, 200);
  assert.equal((await api(fake, 'DELETE', path)).status, 200);
  assert.equal((await api(fake, 'PUT', path, { teamRole: 'admin' })).status, 404);
  assert.equal((await api(fake, 'POST', `/api/0/organizations/acme/members/${m.id}/teams/missing/`)).status, 404);
  fake.addTeam('scim-team', { idpProvisioned: true });
  assert.equal((await api(fake, 'POST', `/api/0/organizations/acme/members/${m.id}/teams/scim-team/`)).status, 403);
});

test('team members list leaves pending invites out; teams list is in slug order', async () => {
  const fake = await fakeSentry();
  for (const t of ['zeta', 'alpha', 'mid']) fake.addTeam(t);
  fake.addMember({ email: 'in@corp.example', teams: ['alpha'] });
  fake.addMember({ email: 'invited@corp.example', teams: ['alpha'], pending: true });
  const list = await api(fake, 'GET', '/api/0/teams/acme/alpha/members/');
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.map((m: { email: string }) => m.email), ['in@corp.example']);
  assert.equal(list.body[0].teamSlug, 'alpha');
  const teams = await api(fake, 'GET', T);
  assert.deepEqual(teams.body.map((t: { slug: string }) => t.slug), ['alpha', 'mid', 'zeta']);
  const one = await api(fake, 'GET', `${T}?query=slug:mid`);
  assert.deepEqual(one.body.map((t: { slug: string }) => t.slug), ['mid']);
});

test('members list: Link header pagination across more than 100 members, host from url-prefix', async () => {
  const fake = await fakeSentry({ urlPrefix: 'https://sentry.internal.example' });
  for (let i = 0; i < 150; i++) fake.addMember({ email: `user${String(i).padStart(3, '0')}@corp.example` });
  const first = await api(fake, 'GET', M);
  assert.equal(first.body.length, 100);
  assert.equal(
    first.headers.get('link'),
    '<https://sentry.internal.example/api/0/organizations/acme/members/?&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", ' +
      '<https://sentry.internal.example/api/0/organizations/acme/members/?&cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0"',
  );
  // Follow only the cursor attribute, rebuilding the URL against the real address.
  const emails: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 5; pages++) {
    const res = await api(fake, 'GET', `${M}${cursor ? `?cursor=${cursor}` : ''}`);
    emails.push(...res.body.map((m: { email: string }) => m.email));
    const next = /rel="next"; results="(true|false)"; cursor="([^"]+)"/.exec(res.headers.get('link')!)!;
    if (next[1] === 'false') break;
    cursor = next[2];
  }
  assert.equal(emails.length, 151); // 150 plus the token user
  assert.equal(new Set(emails).size, 151);

  const small = await api(fake, 'GET', `${M}?per_page=50&cursor=0:50:0`);
  assert.equal(small.body.length, 50);
  assert.match(small.headers.get('link')!, /<https:\/\/sentry\.internal\.example\/api\/0\/organizations\/acme\/members\/\?per_page=50&cursor=0:0:1>; rel="previous"; results="true"/);
  assert.equal((await api(fake, 'GET', `${M}?per_page=101`)).status, 400);
});

test('members list filters by query=email:', async () => {
  const fake = await fakeSentry();
  fake.addMember({ email: 'jane@corp.example' });
  fake.addMember({ email: 'john@corp.example', pending: true });
  const res = await api(fake, 'GET', `${M}?query=${encodeURIComponent('email:john@corp.example')}`);
  assert.deepEqual(res.body.map((m: { email: string }) => m.email), ['john@corp.example']);
  assert.equal(res.body[0].pending, true);
  assert.match(res.headers.get('link')!, /\?query=email%3Ajohn%40corp\.example&cursor=0:0:1>/);
});

test('saas mode: rate-limit headers, and a 429 with a bare string body and no Retry-After', async () => {
  const fake = await fakeSentry();
  const selfHosted = await api(fake, 'GET', M);
  assert.equal(selfHosted.headers.get('x-sentry-rate-limit-limit'), null);
  assert.throws(() => fake.setRateLimited(true));
  fake.setSaasMode(true);
  const ok = await api(fake, 'GET', M);
  assert.equal(ok.headers.get('x-sentry-rate-limit-limit'), '40');
  assert.match(ok.headers.get('x-sentry-rate-limit-reset')!, /^\d+$/);
  fake.setRateLimited(true);
  const limited = await api(fake, 'GET', M);
  assert.equal(limited.status, 429);
  assert.equal(typeof limited.body, 'string');
  assert.equal(limited.headers.get('retry-after'), null);
  assert.equal(limited.headers.get('x-sentry-rate-limit-remaining'), '0');
});

test('fault switches: refuse, error500, hang, latency', async () => {
  const fake = await fakeSentry();
  await fake.setDown(true);
  await assert.rejects(fetch(`${fake.url}${M}`), (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED');
  await fake.setDown(false);
  assert.equal((await api(fake, 'GET', M)).status, 200);
  await fake.setFault('error500');
  assert.equal((await fetch(`${fake.url}${M}`)).status, 500);
  await fake.setFault('hang');
  await assert.rejects(fetch(`${fake.url}${M}`, { signal: AbortSignal.timeout(200) }), { name: 'TimeoutError' });
  await fake.setFault(null);
  fake.setLatency(150);
  const t0 = Date.now();
  assert.equal((await api(fake, 'GET', M)).status, 200);
  assert.ok(Date.now() - t0 >= 140);
});

test('recording: calls, writes and reset', async () => {
  const fake = await fakeSentry();
  await api(fake, 'GET', `${M}?query=email:x@corp.example`);
  await api(fake, 'POST', M, { email: 'x@corp.example' });
  assert.deepEqual(
    fake.calls.map((c) => [c.method, c.path, c.status]),
    [
      ['GET', M, 200],
      ['POST', M, 201],
    ],
  );
  assert.deepEqual(fake.calls[0]!.query, { query: 'email:x@corp.example' });
  assert.deepEqual(fake.writes().map((c) => c.body), [{ email: 'x@corp.example' }]);
  fake.reset();
  assert.equal(fake.calls.length, 0);
  assert.ok(fake.member('x@corp.example'));
});

test('the contract check catches a malformed request and fails it loudly', async () => {
  const fake = await fakeSentry();
  const res = await api(fake, 'POST', M, { email: 'k@corp.example', orgRole: 42 });
  assert.equal(res.status, 500);
  assert.equal(res.headers.get('x-fake-sentry-violation'), '1');
  assert.match(res.body.detail, /orgRole/);
  assert.equal(fake.member('k@corp.example'), undefined, 'the request must not have been applied');
  // A misspelt query parameter would be ignored by Sentry, so it is flagged too.
  assert.equal((await api(fake, 'GET', `${T}?perpage=5`)).status, 500);
  // So is an endpoint the fake does not implement.
  assert.equal((await api(fake, 'GET', '/api/0/organizations/acme/projects/')).status, 404);
  const v = fake.takeViolations();
  assert.equal(v.length, 3);
  assert.match(v[0]!.messages.join('\n'), /request POST .*members\/: body \/orgRole must be string/);
  assert.match(v[1]!.messages.join('\n'), /query parameter 'perpage' is not in the OpenAPI document/);
  assert.match(v[2]!.messages.join('\n'), /no route/);
  assert.throws(() => {
    fake.violations.push({ method: 'GET', path: '/x', messages: ['m'] });
    assertNoViolations(fake);
  }, /1 contract violation/);
  fake.takeViolations();
});

test('the contract check catches a malformed response (injected through the test hook)', async () => {
  const fake = await fakeSentry();
  fake.setResponseTamper((call, reply) => (call.method === 'GET' && call.path === M ? { ...reply, body: [{ id: 5 }] } : undefined));
  const res = await api(fake, 'GET', M);
  assert.equal(res.status, 500);
  assert.match(res.body.detail, /response GET .*members\/ -> 200: body \/0\/id must be string/);
  fake.setResponseTamper((call, reply) => (call.method === 'DELETE' ? { ...reply, status: 200 } : undefined));
  const other = fake.addMember({ email: 'l@corp.example' });
  assert.equal((await api(fake, 'DELETE', `${M}${other.id}/`)).status, 500);
  const v = fake.takeViolations();
  assert.equal(v.length, 2);
  assert.match(v[1]!.messages[0]!, /status 200 is not listed/);
});
