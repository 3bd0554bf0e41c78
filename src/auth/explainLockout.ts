// Which lockout policy applies to a person, and what the gateway allows them under it: for `explain` (CLI and console).
import type { AccountLockoutPolicy, LockoutPolicy } from '../directory/directory.js';
import { accountAllowance, type ThrottleSettings } from './throttle.js';

export interface LockoutExplanation {
  /** Which policy set the threshold the gateway keeps below. */
  applies: 'domain' | 'fine-grained';
  /** The stricter of the two: lower threshold (0 = never locks), longer window. */
  threshold: number;
  observationWindowMs: number;
  domain: LockoutPolicy;
  fineGrained: { name: string; threshold: number; observationWindowMs: number } | 'none' | 'unreadable';
  /** Failed sign-ins the gateway lets reach AD before it answers 429, and the quiet time after the last one that clears them. */
  gateway: { failuresAllowed: number; windowMs: number };
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
    gateway: { failuresAllowed: allowance.limit, windowMs: allowance.windowMs },
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
        ? 'NOT READABLE by the service account: only the domain policy is known (grant read access, see README "Lockout policy")'
        : `"${e.fineGrained.name}": ${describePolicy(e.fineGrained)}`;
  return [
    `Lockout:  ${e.applies === 'fine-grained' ? 'the fine-grained policy' : 'the domain policy'} applies (${describePolicy(e)})`,
    `  domain:       ${describePolicy(e.domain)}`,
    `  fine-grained: ${fg}`,
    `  gateway:      ${e.gateway.failuresAllowed} failed sign-ins, then 429 until ${formatWindow(e.gateway.windowMs)} pass without a failure`,
  ];
}
