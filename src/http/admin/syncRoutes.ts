// Sync in the console: the plan as a readable diff, one confirmation to apply it in the background, progress on a
// self-refreshing page (no script: the CSP allows none), and the last runs.
import type { Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { planSync, type SyncDeps, type SyncPlan } from '../../provisioning/fullSync.js';
import type { Change } from '../../provisioning/planMembership.js';
import { planFingerprint, startSyncRun, type SyncRun, type SyncRunStore } from '../../provisioning/syncRuns.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { format, type AdminMessages } from '../i18n.js';
import { adminPage, field, formatTime, roleLabel, type AdminPage } from './adminContext.js';

/** Null without a Sentry client: the page says so and offers nothing to apply. */
const syncDeps = (deps: Deps): SyncDeps | null => deps.sync ?? null;

function describe(a: AdminMessages, c: Change): string {
  switch (c.kind) {
    case 'invite':
      return format(a.change_invite, { role: roleLabel(a, c.orgRole) });
    case 'orgRole':
      return format(a.diff_orgRole, { from: roleLabel(a, c.from), to: roleLabel(a, c.to) });
    case 'addTeam':
      return format(a.diff_addTeam, { slug: c.slug, to: roleLabel(a, c.role) });
    case 'removeTeam':
      return format(a.diff_removeTeam, { slug: c.slug });
    case 'teamRole':
      return format(a.diff_teamRole, { slug: c.slug, from: roleLabel(a, c.from), to: roleLabel(a, c.to) });
    case 'remove':
      return a.change_remove;
    case 'renewInvite':
      return a.change_renewInvite;
    case 'offboard':
      return format(a.change_offboard, { reason: (a as Record<string, string>)[`offboardReason_${c.reason}`] ?? c.reason });
    case 'reactivate':
      return a.change_reactivate;
  }
}

function runModel(a: AdminMessages, p: AdminPage, r: SyncRun) {
  return {
    id: r.id,
    href: p.url(`/sync/runs/${r.id}`),
    started: formatTime(r.startedAt),
    finished: formatTime(r.finishedAt),
    actor: r.actor,
    status: (a as Record<string, string>)[`status_${r.status}`] ?? r.status,
    statusClass: r.status,
    running: r.status === 'running',
    result: r.result ? format(a.resultSummary, { applied: r.result.applied, failed: r.result.failed.length }) : (r.error ?? ''),
  };
}

async function renderSync(deps: Deps, p: AdminPage, runs: SyncRunStore, extra: Record<string, unknown> = {}): Promise<void> {
  const { a } = p;
  const recent = await runs.recent(10);
  p.render('sync', {
    section: 'sync',
    title: a.syncTitle,
    ...extra,
    configured: !!syncDeps(deps),
    notConfigured: syncDeps(deps) ? undefined : a.sentryMissing,
    planAction: p.url('/sync/plan'),
    applyAction: p.url('/sync/apply'),
    hasRuns: recent.length > 0,
    runs: recent.map((r) => runModel(a, p, r)),
  });
}

function planModel(a: AdminMessages, plan: SyncPlan) {
  const rows = plan.rows.filter((r) => r.plan.changes.length || r.skipped.length);
  const actionable = plan.rows.filter((r) => r.plan.actions.length > 0).length;
  return {
    summary: format(a.planSummary, { version: plan.ruleVersion, ...plan.counts }),
    counts: format(a.planCounts, plan.counts),
    invitesWaiting: plan.invitesWaitUntil ? format(a.invitesWaiting, { count: plan.counts.invite, until: formatTime(new Date(plan.invitesWaitUntil).toISOString()) }) : undefined,
    hasRows: rows.length > 0,
    rows: rows.map((r) => ({
      user: r.user,
      email: r.email,
      changes: r.plan.changes.map((c) => ({ text: describe(a, c), kind: c.kind })),
      skipped: r.skipped,
    })),
    actionable,
    applyLabel: format(a.applyButton, { count: actionable }),
    refused: plan.refused ? format(a.refusedPlan, { reason: plan.refused }) : undefined,
    fingerprint: planFingerprint(plan),
  };
}

export function showSync(deps: Deps, csrf: CsrfOptions, runs: SyncRunStore) {
  return async (req: Request, res: Response): Promise<void> => renderSync(deps, adminPage(deps, csrf, req, res), runs);
}

export function submitSyncPlan(deps: Deps, csrf: CsrfOptions, runs: SyncRunStore) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const d = syncDeps(deps);
    if (!d) return renderSync(deps, p, runs, { status: 409 });
    try {
      // Planning only reads (AD, Sentry); it needs no lock and can run beside anything.
      const plan = await planSync(d);
      return renderSync(deps, p, runs, { plan: planModel(p.a, plan) });
    } catch (e) {
      deps.logger.warn({ err: (e as Error).message }, 'console: sync plan failed');
      return renderSync(deps, p, runs, { status: 503, error: format(p.a.planFailed, { error: (e as Error).message }) });
    }
  };
}

export function submitSyncApply(deps: Deps, csrf: CsrfOptions, runs: SyncRunStore) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const d = syncDeps(deps);
    if (!d) return renderSync(deps, p, runs, { status: 409 });
    const fingerprint = field(req.body, 'fingerprint', 64);
    if (!fingerprint) return renderSync(deps, p, runs, { status: 400, error: p.a.stalePlan });
    const run = await startSyncRun({ runs, deps: d, clock: deps.clock, actor: p.admin.identity.username, fingerprint, force: field(req.body, 'force', 5) === '1' });
    if (!run) return renderSync(deps, p, runs, { status: 409, error: p.a.busy });
    res.redirect(303, p.url(`/sync/runs/${run.id}`));
  };
}

export function showSyncRun(deps: Deps, csrf: CsrfOptions, runs: SyncRunStore) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const { a } = p;
    const run = await runs.get(String(req.params.id ?? ''));
    if (!run) return renderSync(deps, p, runs, { status: 404, error: a.errNoSuchRule });
    const m = runModel(a, p, run);
    p.render('syncRun', {
      section: 'sync',
      title: a.runTitle,
      // The page reloads itself while the run goes on: progress without client-side script.
      refreshSeconds: m.running ? 2 : undefined,
      run: m,
      progress: m.running ? format(a.runProgress, { stage: run.stage, done: run.done, total: run.total ? ` / ${run.total}` : '' }) : undefined,
      // Runs recorded before offboarding existed have no such count.
      counts: run.counts ? format(a.planCounts, { ...run.counts, offboard: run.counts.offboard ?? 0 }) : undefined,
      invitesWaiting: run.result?.waitingInvites ? format(a.invitesWaiting, { count: run.result.waitingInvites, until: formatTime(run.result.invitesWaitUntil) }) : undefined,
      failures: run.result?.failed ?? [],
      offboardRefused: (run.result?.offboardRefused ?? []).map((r) => format(a.offboardRefused, r)),
      orgTokensKept: (run.result?.orgTokensKept ?? []).map((k) =>
        format(a.orgTokensKept, { user: k.user, tokens: k.tokens.map((t) => `"${t.name}" (…${t.lastCharacters})`).join(', ') }),
      ),
      createdTeams: run.result?.createdTeams.length ? format(a.createdTeamsLine, { teams: run.result.createdTeams.join(', ') }) : undefined,
      error: run.status === 'stale' ? a.stalePlan : run.status === 'refused' || (run.status === 'failed' && run.error) ? run.error : undefined,
      backHref: p.url('/sync'),
    });
  };
}
