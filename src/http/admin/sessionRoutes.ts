// Sessions in the console: who is signed in, from where and since when; revoke all of one person's sessions.
import type { Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { listSessions, revokeSessions } from '../../session/sessionIndex.js';
import { sessionPeopleOf } from '../../session/sessionUser.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { format } from '../i18n.js';
import { adminPage, field, formatTime } from './adminContext.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ends every session of `user` in Redis and in this replica's caches; the audit names the admin. */
export async function revokeUserSessions(deps: Deps, typed: string, actor: string, sub?: string): Promise<number> {
  // A row's button names the person by objectGUID: its name may have gone to someone else since a rename in AD.
  // A typed name, in any form sign-in takes (CORP\alice, alice@upn-suffix), is resolved to the objectGUID.
  const person = sub && GUID.test(sub) ? { username: typed.toLowerCase(), subs: [sub.toLowerCase()] } : await sessionPeopleOf(typed, deps.config.ldap, deps.directory, { index: deps.sessions, store: deps.store });
  const user = person.username;
  const ids: string[] = [];
  for (const sub of person.subs) ids.push(...(await revokeSessions(deps.sessions, deps.store, sub)));
  // revokeSessions announced them to every replica; this one does not wait for its own announcement.
  for (const id of ids) {
    deps.resolver.forget(id);
    deps.signer.forget(id);
  }
  deps.sockets.close(ids);
  deps.audit.record({ kind: 'session.revoked', user, actor, detail: { sessions: ids.length } });
  return ids.length;
}

export function showSessions(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const { a } = p;
    const user = typeof req.query.user === 'string' ? req.query.user.trim().slice(0, 256) : '';
    const person = user ? await sessionPeopleOf(user, deps.config.ldap, deps.directory, { index: deps.sessions, store: deps.store }) : undefined;
    const sessions = await listSessions(deps.sessions, deps.store, person ? { subs: person.subs } : {});
    const done = req.query.done === 'revoked' && typeof req.query.count === 'string' && typeof req.query.who === 'string';
    // One revoke button per person, on their first row: revoking is per person, not per browser.
    const seen = new Set<string>();
    p.render('sessions', {
      section: 'sessions',
      title: a.sessionsTitle,
      notice: done ? format(a.revoked, { count: String(req.query.count).slice(0, 6), user: String(req.query.who).slice(0, 256) }) : undefined,
      action: p.url('/sessions'),
      revokeAction: p.url('/sessions/revoke'),
      user,
      hasSessions: sessions.length > 0,
      sessions: sessions.map((s) => {
        const first = !seen.has(s.sub);
        seen.add(s.sub);
        return {
          username: s.username,
          sub: s.sub,
          name: s.name ?? '',
          isYou: s.sessionId === p.admin.sessionId,
          since: formatTime(s.authenticatedAt),
          lastSeen: formatTime(s.lastSeenAt),
          address: s.clientAddress ?? '',
          browser: s.userAgent ?? '',
          revoke: first ? { label: format(a.revokeUser, { user: s.username }) } : undefined,
        };
      }),
    });
  };
}

export function submitRevoke(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const user = field(req.body, 'user', 256).trim();
    if (!user) return res.redirect(303, p.url('/sessions'));
    const sub = field(req.body, 'sub', 64).trim();
    const count = await revokeUserSessions(deps, user, p.admin.identity.username, sub || undefined);
    res.redirect(303, p.url('/sessions', { done: 'revoked', count, who: user }));
  };
}
