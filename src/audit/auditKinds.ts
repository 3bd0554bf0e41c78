// Every kind of audit event, and the kinds the console's filter offers, derived from that one list so they cannot drift.

/** Grouped by family (the part before the dot); the filter offers them in this order. */
export const AUDIT_KINDS = [
  'login.success',
  'login.failure',
  'reauth.success',
  'reauth.refused',
  'logout',
  'session.ended',
  'session.revoked',
  'provision.change',
  'provision.offboard',
  'sync.run',
  'mapping.change',
  'key.created',
  'key.rotated',
  'bind_password.rotated',
  'bind_password.rotation_failed',
  'secret.reloaded',
  'secret.reload_failed',
  'config.warning',
  'mfa.success',
  'mfa.failure',
  'mfa.enrolled',
  'mfa.link_issued',
  'mfa.link_used',
  'mfa.reset',
  'mfa.factor_renamed',
  'mfa.factor_removed',
  'mfa.recovery_regenerated',
  'mfa.exported',
  'mfa.imported',
] as const;

export type AuditKind = (typeof AUDIT_KINDS)[number];

type FamilyOf<K extends string> = K extends `${infer F}.${string}` ? F : never;
type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;
type Family = FamilyOf<AuditKind>;

/** A family with more than one kind: one filter value that matches all of them (`login` for `login.*`). */
export type AuditFamily = { [F in Family]: true extends IsUnion<Extract<AuditKind, `${F}.${string}`>> ? F : never }[Family];

/** What the filter offers, and so what each language's catalogue must name. */
export type AuditFilterKind = AuditKind | AuditFamily;

/** `bind_password` for `bind_password.rotated`; undefined for a kind without a family (`logout`). */
export function familyOf(kind: string): string | undefined {
  const dot = kind.indexOf('.');
  return dot > 0 ? kind.slice(0, dot) : undefined;
}

/** Each family of several kinds, right before its kinds; then every kind. */
export const AUDIT_FILTER_KINDS: readonly AuditFilterKind[] = (() => {
  const size = new Map<string, number>();
  for (const k of AUDIT_KINDS) {
    const f = familyOf(k);
    if (f) size.set(f, (size.get(f) ?? 0) + 1);
  }
  const out: AuditFilterKind[] = [];
  for (const k of AUDIT_KINDS) {
    const f = familyOf(k);
    if (f && size.get(f)! > 1 && !out.includes(f as AuditFamily)) out.push(f as AuditFamily);
    out.push(k);
  }
  return out;
})();

/** A filter value matches its own kind, or every kind of the family it names. */
export function matchesKind(filter: string, kind: string): boolean {
  return kind === filter || familyOf(kind) === filter;
}
