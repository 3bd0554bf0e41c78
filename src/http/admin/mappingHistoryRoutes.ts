// Mapping history in the console: every saved version with who and when, and restoring one as a new version.
import type { Request, Response } from 'express';
import { stringify as toYaml } from 'yaml';
import type { Deps } from '../../compositionRoot.js';
import { RuleConflictError } from '../../mapping/ruleStore.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { format } from '../i18n.js';
import { adminPage, field, formatTime, type AdminPage } from './adminContext.js';
import { saveRules } from './saveRules.js';

export function showHistory(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => renderHistory(deps, adminPage(deps, csrf, req, res));
}

async function renderHistory(deps: Deps, p: AdminPage, extra: { status?: number; error?: string } = {}): Promise<void> {
  const { a } = p;
  const [cur, past] = await Promise.all([deps.rules.current(), deps.rules.history(50)]);
  p.render('history', {
    section: 'mappings',
    title: a.historyTitle,
    ...extra,
    action: p.url('/mappings/revert'),
    backHref: p.url('/'),
    currentVersion: cur.version,
    hasHistory: past.length > 0,
    versions: [cur, ...past].map((s, i) => ({
      version: s.version,
      who: s.updatedBy,
      when: formatTime(s.updatedAt),
      count: s.rules.length,
      isCurrent: i === 0,
      revertLabel: format(a.revert, { version: s.version }),
      yaml: toYaml({ defaultOrgRole: s.defaultOrgRole, rules: s.rules }),
    })),
  });
}

export function revertRules(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const expected = Number(field(req.body, 'version', 20));
    const from = Number(field(req.body, 'from', 20));
    const target = (await deps.rules.history(200)).find((s) => s.version === from);
    if (!target) return renderHistory(deps, p, { status: 404, error: p.a.errNoSuchRule });
    try {
      const saved = await saveRules(deps, p, target, expected, `revert to version ${from}`);
      res.redirect(303, p.url('/', { done: 'reverted', v: saved.version, from }));
    } catch (e) {
      if (!(e instanceof RuleConflictError)) throw e;
      return renderHistory(deps, p, { status: 409, error: format(p.a.errConflict, { version: e.currentVersion }) });
    }
  };
}
