// Second factors in the console: look a person up by any name form, list their factors, reset them (the same
// service as `mfa reset`), issue a one-time enrolment link (shown once). Every change audited by the admin's name.
import type { Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import type { DirectoryUser } from '../../directory/directory.js';
import { resetSecondFactor } from '../../mfa/resetSecondFactor.js';
import type { Mfa } from '../../mfa/buildMfa.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { format } from '../i18n.js';
import { adminPage, field, formatTime, type AdminPage } from './adminContext.js';
import { revokeUserSessions } from './sessionRoutes.js';

async function lookup(deps: Deps, p: AdminPage, name: string): Promise<DirectoryUser | null | 'failed'> {
  try {
    return await deps.directory.lookup(name);
  } catch (e) {
    deps.logger.warn({ err: (e as Error).message }, 'console: second-factor lookup failed');
    return 'failed';
  }
}

async function render(deps: Deps, p: AdminPage, name: string, extra: { status?: number; notice?: string; error?: string; link?: { url: string; text: string } } = {}): Promise<void> {
  const { a } = p;
  const base = { section: 'mfa' as const, title: a.mfaTitle, action: p.url('/mfa'), username: name, ...extra };
  if (!deps.mfa) return p.render('mfa', { ...base, status: 503, error: a.mfaNoRedis });
  if (!name) return p.render('mfa', base);
  const user = await lookup(deps, p, name);
  if (user === 'failed') return p.render('mfa', { ...base, status: 503, error: a.errDirectory });
  if (!user) return p.render('mfa', { ...base, status: 404, error: format(a.noSuchUser, { user: name }) });
  const factors = await deps.mfa.store.list(user.guid);
  const left = factors.length ? await deps.mfa.store.recoveryCodesLeft(user.guid) : 0;
  const who = user.sAMAccountName;
  p.render('mfa', {
    ...base,
    person: {
      username: who,
      name: user.displayName,
      guid: user.guid.toLowerCase(),
      none: factors.length ? undefined : format(a.mfaNone, { user: who }),
      recoveryLeft: factors.length ? format(a.mfaRecoveryLeft, { count: left }) : undefined,
      factors: factors.map((f) => ({ kind: (a as Record<string, string>)[`mfaKind_${f.kind}`] ?? f.kind, name: f.name, added: formatTime(f.createdAt), lastUsed: f.lastUsedAt ? formatTime(f.lastUsedAt) : a.mfaNever })),
      hasFactors: factors.length > 0,
      resetAction: p.url('/mfa/reset'),
      resetLabel: format(a.mfaResetButton, { user: who }),
      resetHint: format(a.mfaResetHint, { user: who }),
      linkAction: p.url('/mfa/link'),
      linkHint: format(a.mfaLinkHint, { user: who }),
    },
  });
}

export function showMfa(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const name = typeof req.query.user === 'string' ? req.query.user.trim().slice(0, 256) : '';
    const notice =
      req.query.done === 'reset' && typeof req.query.who === 'string'
        ? format(p.a.mfaResetDone, { user: req.query.who.slice(0, 256), removed: String(req.query.removed ?? '0').slice(0, 6), sessions: String(req.query.sessions ?? '0').slice(0, 6) })
        : undefined;
    await render(deps, p, name, { notice });
  };
}

/**
 * The form names the person twice: by the name looked up and by the objectGUID shown. If the name now leads to
 * another account (a rename in AD since the page was shown), nothing happens: the admin looks again.
 */
async function confirmedPerson(deps: Deps, p: AdminPage, req: Request): Promise<{ user: DirectoryUser; name: string } | { name: string; refused: true } | 'failed'> {
  const name = field(req.body, 'user', 256).trim();
  const guid = field(req.body, 'guid', 64).trim().toLowerCase();
  const user = name ? await lookup(deps, p, name) : null;
  if (user === 'failed') return 'failed';
  if (!user || user.guid.toLowerCase() !== guid) return { name, refused: true };
  return { user, name };
}

/** The page and the person a reset or link form names, or undefined once the page has answered (no store, a directory outage, a renamed account). */
async function formPerson(deps: Deps, csrf: CsrfOptions, req: Request, res: Response): Promise<{ p: AdminPage; mfa: Mfa; user: DirectoryUser; name: string } | undefined> {
  const p = adminPage(deps, csrf, req, res);
  if (!deps.mfa) {
    await render(deps, p, '');
    return undefined;
  }
  const found = await confirmedPerson(deps, p, req);
  if (found === 'failed') {
    p.render('mfa', { section: 'mfa', title: p.a.mfaTitle, action: p.url('/mfa'), status: 503, error: p.a.errDirectory });
    return undefined;
  }
  if ('refused' in found) {
    await render(deps, p, found.name, { status: 409, error: format(p.a.mfaChanged, { user: found.name }) });
    return undefined;
  }
  return { p, mfa: deps.mfa, user: found.user, name: found.name };
}

export function submitMfaReset(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const form = await formPerson(deps, csrf, req, res);
    if (!form) return;
    const { p, mfa, user, name } = form;
    const actor = p.admin.identity.username;
    const r = await resetSecondFactor(
      {
        store: mfa.store,
        links: mfa.links,
        throttle: mfa.throttle,
        audit: deps.audit,
        // The console's own revocation: every replica drops them, this one's caches and WebSockets at once.
        endSessions: (guid) => revokeUserSessions(deps, user.sAMAccountName, actor, guid),
      },
      { guid: user.guid, username: user.sAMAccountName.normalize('NFC').toLowerCase() },
      actor,
    );
    res.redirect(303, p.url('/mfa', { user: name, done: 'reset', who: user.sAMAccountName, removed: r.removed, sessions: r.sessionsEnded }));
  };
}

/** The link is in this response only: never in a URL of ours, a log line or the audit (which records its expiry). */
export function submitMfaLink(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const form = await formPerson(deps, csrf, req, res);
    if (!form) return;
    const { p, mfa, user, name } = form;
    const link = await mfa.links.issue(user.guid, { username: user.sAMAccountName.normalize('NFC').toLowerCase(), actor: p.admin.identity.username });
    res.setHeader('Cache-Control', 'no-store');
    await render(deps, p, name, { link: { url: link.url, text: format(p.a.mfaLinkShown, { user: user.sAMAccountName, expires: formatTime(link.expiresAt) }) } });
  };
}
