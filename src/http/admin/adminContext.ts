// What every console handler needs: the admin check, the page's language, links that keep it, and rendering.
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { GatewayError } from '../../errors.js';
import type { Identity } from '../../session/identity.js';
import { csrfTokenForResponse, type CsrfOptions } from '../csrfMiddleware.js';
import { langOf } from '../errorResponse.js';
import { adminMessages, format, urlPrefixAdvice, type AdminMessages, type Lang } from '../i18n.js';
import { renderAdminPage, type AdminView } from '../render.js';

export const ADMIN_BASE = '/_gateway/admin';

export interface AdminLocals {
  identity: Identity;
  sessionId: string;
}

/**
 * Admins only, checked on the server for every request: anonymous HTML GETs go to the login page, other
 * anonymous requests get 401, signed-in people outside `access.adminGroups` 403. `isAdmin` comes from the
 * session's identity, which is re-read from AD every `session.revalidateInterval`.
 */
export function requireAdmin(deps: Deps) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const found = await deps.resolver.lookup(req);
    if (found.status === 'unavailable') return next(new GatewayError(found.what === 'store' ? 'GW_SESSION_STORE_UNAVAILABLE' : 'GW_DIRECTORY_UNAVAILABLE'));
    if (found.status !== 'ok') {
      // A session that owes a second factor (only the password passed, or the policy now asks one) goes to that step.
      const step = found.status === 'pending' ? '/_gateway/mfa' : '/_gateway/login';
      if (req.method === 'GET' || req.method === 'HEAD') return res.redirect(302, `${step}?next=${encodeURIComponent(req.originalUrl)}`);
      return next(new GatewayError('GW_AUTH_REQUIRED'));
    }
    if (!found.identity.isAdmin) return next(new GatewayError('GW_FORBIDDEN', 'not an admin'));
    res.locals.admin = { identity: found.identity, sessionId: found.sessionId } satisfies AdminLocals;
    res.setHeader('Cache-Control', 'no-store');
    next();
  };
}

/** Warnings about the deployment (Sentry's url-prefix) for the page this request renders. */
export function siteWarnings(deps: Deps) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const mismatch = await deps.urlPrefix();
    res.locals.siteWarnings = mismatch ? [urlPrefixAdvice(mismatch, langOf(req))] : [];
    next();
  };
}

export type Section = 'mappings' | 'explain' | 'sync' | 'audit' | 'sessions' | 'mfa';

export interface AdminPage {
  lang: Lang;
  a: AdminMessages;
  admin: AdminLocals;
  /** A console path with the page's `?lang=` kept, when the person chose one explicitly. */
  url(path: string, params?: Record<string, string | number | undefined>): string;
  render(view: AdminView, model: { section: Section; title: string; status?: number; notice?: string; error?: string; errors?: string[]; refreshSeconds?: number; [k: string]: unknown }): void;
}

export function adminPage(deps: Deps, csrf: CsrfOptions, req: Request, res: Response): AdminPage {
  const lang = langOf(req);
  const a = adminMessages(lang);
  const chosenLang = typeof req.query.lang === 'string' ? lang : undefined;
  const url = (path: string, params: Record<string, string | number | undefined> = {}) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
    if (chosenLang && !('lang' in params)) q.set('lang', chosenLang);
    const qs = q.toString();
    return `${ADMIN_BASE}${path}${qs ? `?${qs}` : ''}`;
  };
  const admin = res.locals.admin as AdminLocals;
  return {
    lang,
    a,
    admin,
    url,
    render(view, model) {
      const nav = (
        [
          ['mappings', '/', a.navMappings],
          ['explain', '/explain', a.navExplain],
          ['sync', '/sync', a.navSync],
          ['audit', '/audit', a.navAudit],
          ['sessions', '/sessions', a.navSessions],
          ['mfa', '/mfa', a.navMfa],
        ] as const
      ).map(([id, path, label]) => ({ href: url(path), label, current: id === model.section }));
      // The other language's link points at the same page.
      const other = new URL(req.originalUrl, 'http://x');
      other.searchParams.set('lang', lang === 'en' ? 'zh-CN' : 'en');
      for (const k of ['done', 'v', 'from', 'count', 'teams']) other.searchParams.delete(k);
      res.status(model.status ?? 200);
      res.type('html').send(
        renderAdminPage(view, {
          ...model,
          siteWarnings: (res.locals.siteWarnings as string[] | undefined) ?? [],
          lang,
          nav,
          org: deps.config.server.organizationName,
          signedInAs: format(a.signedInAs, { name: admin.identity.name || admin.identity.username }),
          csrfToken: csrfTokenForResponse(req, res, csrf),
          langParam: chosenLang,
          otherLangHref: req.method === 'GET' ? other.pathname + other.search : url(model.section === 'mappings' ? '/' : `/${model.section}`, { lang: lang === 'en' ? 'zh-CN' : 'en' }),
        }),
      );
    },
  };
}

/** UTC, to the second: the console is read by people in several time zones and compared with logs. */
export function formatTime(at: string | number | undefined): string {
  if (at === undefined || at === '') return '';
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? String(at) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

export function roleLabel(a: AdminMessages, role: string | undefined | null): string {
  if (!role) return a.noRole;
  return (a as Record<string, string>)[`role_${role}`] ?? role;
}

/** A form field that may arrive once or repeated, as a list of strings. */
export function fieldList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : ''));
  return typeof v === 'string' ? [v] : [];
}

export function field(body: unknown, name: string, max = 1024): string {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v.slice(0, max) : '';
}
