// What if: the editor's unsaved rule tried on one user, as the differences from the saved rules.
import type { Deps } from '../../compositionRoot.js';
import type { DirectoryUser } from '../../directory/directory.js';
import { whatIf } from '../../mapping/explainUser.js';
import type { RuleSet } from '../../mapping/ruleStore.js';
import { format, type AdminMessages } from '../i18n.js';
import { roleLabel } from './adminContext.js';
import { draftRules, type RuleDraft } from './ruleDraft.js';

export interface RulePreview {
  user: string;
  lines: string[];
  summary?: string;
  after?: string;
  error?: string;
}

async function lookupUser(deps: Deps, username: string): Promise<DirectoryUser | null | 'unavailable'> {
  try {
    return await deps.directory.lookup(username);
  } catch (e) {
    deps.logger.warn({ err: (e as Error).message }, 'console: user lookup failed');
    return 'unavailable';
  }
}

export function describeDifferences(a: AdminMessages, diffs: ReturnType<typeof whatIf>['differences']): string[] {
  return diffs.map((x) => format(a[`diff_${x.kind}`], { slug: x.slug ?? '', from: roleLabel(a, x.from), to: roleLabel(a, x.to) }));
}

export async function previewRule(deps: Deps, a: AdminMessages, set: RuleSet, d: RuleDraft): Promise<RulePreview | undefined> {
  const user = d.previewUser;
  if (!user) return undefined;
  const rules = draftRules(set, d);
  if (!rules) return { user, lines: [], error: a.errNoSuchRule };
  const found = await lookupUser(deps, user);
  if (found === 'unavailable') return { user, lines: [], error: a.errDirectory };
  if (!found) return { user, lines: [], error: format(a.noSuchUser, { user }) };
  const w = whatIf(found, deps.config.access, set, { defaultOrgRole: set.defaultOrgRole, rules });
  const lines = describeDifferences(a, w.differences);
  const teams = w.after.teams.map((t) => `${t.slug} (${roleLabel(a, t.role)})`).join(', ') || a.noTeams;
  return {
    user: found.sAMAccountName,
    lines,
    summary: lines.length ? format(a.whatIfChanges, { user: found.sAMAccountName }) : format(a.whatIfNoChange, { user: found.sAMAccountName }),
    after: format(a.whatIfResult, { role: roleLabel(a, w.after.orgRole.role), teams }),
  };
}
