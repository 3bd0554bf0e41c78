// The second-factor part of `explain`, for the CLI and the console alike: the policy's one decision for this person
// (from mfaPolicy.ts, never recomputed here), the factors they hold, and whether they may enrol without a link.
import type { GroupRef } from '../mapping/resolveAccess.js';
import type { Factor } from './factorStore.js';
import { describeMfaReason, type EnrolmentRule, type FactorKind, type MfaDecision, type MfaReason, type MfaSubject } from './mfaPolicy.js';

export interface MfaExplanation {
  required: boolean;
  reason: MfaReason;
  enrolment: EnrolmentRule;
  methods: FactorKind[];
  /** The factors enrolled (no secret: kind, name, added and last used). */
  factors: { kind: FactorKind; name: string; createdAt: number; lastUsedAt: number | null }[];
  /** The client address judged, when one was given. */
  from?: string;
}

export function explainMfa(decide: (s: MfaSubject) => MfaDecision, person: { groups: GroupRef[] }, factors: readonly Factor[], from: string | undefined): MfaExplanation {
  const d = decide({ groups: person.groups, address: from, factors: factors.map((f) => f.kind) });
  return {
    required: d.required,
    reason: d.reason,
    enrolment: d.enrolment,
    methods: d.methods,
    factors: factors.map((f) => ({ kind: f.kind, name: f.name, createdAt: f.createdAt, lastUsedAt: f.lastUsedAt })),
    ...(from ? { from } : {}),
  };
}

/** The enrolment rule in English, for the CLI. */
export function describeEnrolment(e: EnrolmentRule): string {
  if (e.kind === 'further') return 'a further factor needs a current one first';
  if (e.withoutLink) return `may enrol a first factor without a link (from ${e.network}, in mfa.enrolFrom${e.afterPassword ? ', after typing the password' : ''})`;
  return `needs an enrolment link for a first factor (${e.address ?? 'the address'} is in no mfa.enrolFrom network; mfa enrol-link --user USER)`;
}

/** The CLI's lines: decision and reason, the factors held, and the enrolment rule. */
export function describeMfaExplanation(e: MfaExplanation): string[] {
  const held = e.factors.length ? e.factors.map((f) => `${f.kind} "${f.name}"`).join(', ') : 'none';
  return [
    `2nd factor: ${e.required ? 'REQUIRED' : 'not required'}${e.from ? ` from ${e.from}` : ''} (${describeMfaReason(e.reason)}); ${e.factors.length} enrolled`,
    `  factors:  ${held}`,
    `  enrol:    ${describeEnrolment(e.enrolment)}`,
  ];
}
