// Turns a directory user and the access policy into the session identity, or says why they may not have one.
import type { DirectoryUser } from '../directory/directory.js';
import { resolveAccess, type AccessPolicy } from '../mapping/resolveAccess.js';
import type { Identity } from '../session/identity.js';

export type IdentityResult = { ok: true; identity: Identity } | { ok: false; reason: string };

export function buildIdentity(user: DirectoryUser, policy: AccessPolicy): IdentityResult {
  if (user.blockedReason) return { ok: false, reason: user.blockedReason };
  const groups = user.groups.map((g) => ({ dn: g.dn, name: g.name, sid: g.sid }));
  const resolved = resolveAccess(groups, policy);
  if (!resolved.access.allowed) return { ok: false, reason: resolved.access.reason };
  return {
    ok: true,
    identity: {
      sub: user.guid,
      username: user.sAMAccountName,
      email: user.email,
      name: user.displayName,
      dn: user.dn,
      groups,
      orgRole: resolved.orgRole,
      teams: resolved.teams.map((t) => ({ slug: t.slug, role: t.role })),
      isAdmin: resolved.isAdmin,
    },
  };
}
