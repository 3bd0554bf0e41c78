// The admin console's route table. Every route: admins only; every POST: form body, CSRF check, then the admin check.
import express, { Router } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { SentryTeams } from '../../provisioning/sentryTeams.js';
import { SyncRunStore } from '../../provisioning/syncRuns.js';
import { requireCsrf, type CsrfOptions } from '../csrfMiddleware.js';
import { requireAdmin, siteWarnings } from './adminContext.js';
import { showAudit } from './auditRoutes.js';
import { showExplain, submitWhatIf } from './explainRoutes.js';
import { revertRules, showHistory } from './mappingHistoryRoutes.js';
import { deleteRule, moveRule, saveDefaultRole, showMappings } from './mappingListRoutes.js';
import { showRuleEditor, submitRule } from './ruleEditorRoutes.js';
import { showSessions, submitRevoke } from './sessionRoutes.js';
import { showMfa, submitMfaLink, submitMfaReset } from './mfaRoutes.js';
import { showSync, showSyncRun, submitSyncApply, submitSyncPlan } from './syncRoutes.js';

/** Mounted at /_gateway/admin. Express 5 passes a rejected handler promise to the error handler. */
export function adminRouter(deps: Deps, csrf: CsrfOptions): Router {
  const r = Router();
  // Roomier than the login form: a rule with many teams, or the "what if" rules text.
  const form = express.urlencoded({ extended: false, limit: '256kb', parameterLimit: 500 });
  const admin = requireAdmin(deps);
  const post = [form, requireCsrf(csrf), admin];
  const runs = new SyncRunStore(deps.redis);
  const teams = new SentryTeams(deps.sentry, deps.logger);

  // The front page says what an admin must fix outside the gateway while it holds.
  r.get('/', admin, siteWarnings(deps), showMappings(deps, csrf));
  r.get('/mappings/rule', admin, showRuleEditor(deps, csrf, teams));
  r.post('/mappings/rule', ...post, submitRule(deps, csrf, teams));
  r.post('/mappings/move', ...post, moveRule(deps, csrf));
  r.post('/mappings/delete', ...post, deleteRule(deps, csrf));
  r.post('/mappings/default', ...post, saveDefaultRole(deps, csrf));
  r.get('/mappings/history', admin, showHistory(deps, csrf));
  r.post('/mappings/revert', ...post, revertRules(deps, csrf));
  r.get('/explain', admin, showExplain(deps, csrf));
  r.post('/explain', ...post, submitWhatIf(deps, csrf));
  r.get('/sync', admin, showSync(deps, csrf, runs));
  r.post('/sync/plan', ...post, submitSyncPlan(deps, csrf, runs));
  r.post('/sync/apply', ...post, submitSyncApply(deps, csrf, runs));
  r.get('/sync/runs/:id', admin, showSyncRun(deps, csrf, runs));
  r.get('/audit', admin, showAudit(deps, csrf));
  r.get('/sessions', admin, showSessions(deps, csrf));
  r.post('/sessions/revoke', ...post, submitRevoke(deps, csrf));
  r.get('/mfa', admin, showMfa(deps, csrf));
  r.post('/mfa/reset', ...post, submitMfaReset(deps, csrf));
  r.post('/mfa/link', ...post, submitMfaLink(deps, csrf));
  return r;
}
