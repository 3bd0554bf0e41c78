// Which lockout policy applies to a person, and what the gateway allows them under it: for `explain` (CLI and console).
import type { AccountLockoutPolicy, LockoutPolicy } from '../directory/directory.js';
import { accountAllowance, protectsFromLockout, type ThrottleSettings } from './throttle.js';

export interface LockoutExplanation {
  /** Which policy set the threshold the gateway keeps below. */
  applies: 'domain' | 'fine-grained';
  /** The stricter of the two: lower threshold (0 = never locks), longer window. */
  threshold: number;
  observationWindowMs: number;
  domain: LockoutPolicy;
  fineGrained: { name: string; threshold: number; observationWindowMs: number } | 'none' | 'unreadable';
  /** Failed sign-ins the gateway lets reach AD before it answers 429, and the quiet time after the last one that clears them. */
  gateway: { failuresAllowed: number; windowMs: number; protectsFromLockout: boolean };
}

export function explainLockout(policy: AccountLockoutPolicy, settings: Pick<ThrottleSettings, 'perUser' | 'windowMs'>): LockoutExplanation {
  const allowance = accountAllowance(settings, policy);
  const fg = policy.fineGrained;
  return {
    applies: policy.source,
    threshold: policy.threshold,
    observationWindowMs: policy.observationWindowMs,
    domain: { threshold: policy.domain.threshold, observationWindowMs: policy.domain.observationWindowMs },
    fineGrained: typeof fg === 'object' ? { name: fg.name, threshold: fg.threshold, observationWindowMs: fg.observationWindowMs } : fg,
    gateway: { failuresAllowed: allowance.limit, windowMs: allowance.windowMs, protectsFromLockout: protectsFromLockout(settings, policy.threshold) },
  };
}

/** 90000 → "1m 30s": windows are read by people. */
export function formatWindow(ms: number): string {
  if (ms <= 0) return '0s';
  const parts: string[] = [];
  let s = Math.round(ms / 1000);
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join(' ') || `${ms}ms`;
}

function describePolicy(p: LockoutPolicy): string {
  return p.threshold > 0 ? `locks after ${p.threshold} bad passwords within ${formatWindow(p.observationWindowMs)}` : 'never locks';
}

/** The lines `explain` prints, in English. */
export function describeLockout(e: LockoutExplanation): string[] {
  const fg =
    e.fineGrained === 'none'
      ? 'none applies'
      : e.fineGrained === 'unreadable'
        ? 'NOT READABLE by the service account: only the domain policy is known (grant read access, see docs/operating.md, "Lockout policy")'
        : `"${e.fineGrained.name}": ${describePolicy(e.fineGrained)}`;
  return [
    `Lockout:  ${e.applies === 'fine-grained' ? 'the fine-grained policy' : 'the domain policy'} applies (${describePolicy(e)})`,
    `  domain:       ${describePolicy(e.domain)}`,
    `  fine-grained: ${fg}`,
    `  gateway:      ${e.gateway.failuresAllowed} failed sign-ins, then 429 until ${formatWindow(e.gateway.windowMs)} pass without a failure`,
    ...(e.gateway.protectsFromLockout ? [] : [`  WARNING:      ${unprotectedText(e.threshold)}`]),
  ];
}

/** Why a threshold of 1 or 2 is beyond the gateway, in English (CLI, logs, readyz). */
export function unprotectedText(threshold: number): string {
  return (
    `a lockout threshold of ${threshold} leaves the gateway no room: ${threshold === 1 ? 'one wrong password' : 'one wrong password through the gateway and one elsewhere'} ` +
    'locks the account, and the gateway cannot prevent it. Raise the threshold to 3 or more to have the gateway keep such accounts from being locked through it'
  );
}

/** Every policy (the domain's, each fine-grained one) whose threshold the gateway cannot keep below, as warnings. */
export function unprotectedPolicyWarnings(
  all: { domain: LockoutPolicy; fineGrained: { name: string; threshold: number }[] | 'unreadable' },
  settings: Pick<ThrottleSettings, 'perUser'>,
): string[] {
  const out: string[] = [];
  if (!protectsFromLockout(settings, all.domain.threshold)) out.push(`lockout: the domain policy: ${unprotectedText(all.domain.threshold)}`);
  if (all.fineGrained !== 'unreadable') {
    for (const p of all.fineGrained) {
      if (!protectsFromLockout(settings, p.threshold)) out.push(`lockout: the fine-grained policy "${p.name}" (and every account under it): ${unprotectedText(p.threshold)}`);
    }
  }
  return out;
}
