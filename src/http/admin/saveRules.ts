// Every console save of the mapping rules: against the version the admin saw, so a concurrent edit is refused, not
// lost, and audited with the admin as actor.
import type { Deps } from '../../compositionRoot.js';
import type { RuleSet } from '../../mapping/ruleStore.js';
import type { AdminPage } from './adminContext.js';

export async function saveRules(deps: Deps, p: AdminPage, next: Pick<RuleSet, 'defaultOrgRole' | 'rules'>, expected: number, action: string): Promise<RuleSet> {
  const saved = await deps.rules.save({ defaultOrgRole: next.defaultOrgRole, rules: next.rules }, p.admin.identity.username, expected);
  deps.audit.record({ kind: 'mapping.change', actor: p.admin.identity.username, detail: { from: expected, to: saved.version, rules: saved.rules.length, action, via: 'admin console' } });
  return saved;
}
