// Pure: config + the person's groups + client address + enrolled factors → is a second factor required, may a first one be enrolled without a link, and why.
import type { Config } from '../config/schema.js';
import { findGroup, type GroupRef } from '../mapping/resolveAccess.js';
import { NetworkList } from '../shared/networks.js';
import type { FactorKind } from '../shared/factorKind.js';

// Re-exported: the policy's callers name factors through it.
export type { FactorKind };

/**
 * Why, as a stable code and its data (for `explain`, the console and the pages to word in each language):
 * - `group`: a member of an `mfa.requireForGroups` group (data.group as configured);
 * - `always`: `mfa.require: always`;
 * - `outside`: `mfa.require: outside` and the address is in no trusted network (data.address);
 * - `enrolled`: `require: never`, and the person has enrolled a factor of their own accord, so is asked for it (data.factors);
 * - `trusted_network`: `outside`, from a trusted network (data.address, data.network);
 * - `not_required`: `require: never`, in no listed group, nothing enrolled.
 */
export type MfaReason =
  | { code: 'group'; group: string }
  | { code: 'always' }
  | { code: 'outside'; address: string | null }
  | { code: 'enrolled'; factors: number }
  | { code: 'trusted_network'; address: string; network: string }
  | { code: 'not_required' };

/**
 * A first factor (`first`): from an `enrolFrom` network without a link (`withoutLink` true, data.network),
 * else only with an enrolment link. A further one (`further`): only after passing a current factor.
 * `afterPassword`: the session typed no password (a Kerberos sign-in, `amr` without `pwd`), so the network's right
 * holds only once the AD password is typed: whoever sits at an unlocked, signed-in desk must not attach their own
 * authenticator to the account.
 */
export type EnrolmentRule =
  | { kind: 'first'; withoutLink: true; network: string; afterPassword: boolean }
  | { kind: 'first'; withoutLink: false; address: string | null }
  | { kind: 'further'; needs: 'current_factor' };

export interface MfaDecision {
  required: boolean;
  reason: MfaReason;
  /** The factor kinds this person may use or enrol (`mfa.methods`); recovery codes come with either. */
  methods: FactorKind[];
  enrolment: EnrolmentRule;
}

export interface MfaSubject {
  /** The groups as the session stores them (nested membership already resolved). */
  groups: GroupRef[];
  /** The client address as server.trustProxy derives it; absent or unparseable counts as outside every network. */
  address: string | undefined;
  /** The kinds of the factors the person has enrolled (recovery codes not counted). */
  factors: readonly FactorKind[];
  /**
   * Whether this session's sign-in typed the password (`amr` has `pwd`). The enrolment pages pass it; absent, the
   * rule is the one for a password sign-in (what `explain` and the account page describe).
   */
  typedPassword?: boolean;
}

export type MfaPolicyConfig = Pick<Config['mfa'], 'require' | 'trustedNetworks' | 'requireForGroups' | 'enrolFrom' | 'methods'>;

/** Builds the decision function once per config (the CIDR lists are parsed here, not per sign-in). */
export function compileMfaPolicy(mfa: MfaPolicyConfig): (subject: MfaSubject) => MfaDecision {
  const trusted = new NetworkList(mfa.trustedNetworks);
  const enrolFrom = new NetworkList(mfa.enrolFrom ?? mfa.trustedNetworks);
  const methods = [...mfa.methods];
  return (subject) => {
    const address = subject.address ?? null;
    const enrolment: EnrolmentRule = (() => {
      if (subject.factors.length > 0) return { kind: 'further', needs: 'current_factor' };
      const network = enrolFrom.match(subject.address);
      return network ? { kind: 'first', withoutLink: true, network, afterPassword: subject.typedPassword === false } : { kind: 'first', withoutLink: false, address };
    })();
    const decide = (required: boolean, reason: MfaReason): MfaDecision => ({ required, reason, methods, enrolment });

    for (const ref of mfa.requireForGroups) if (findGroup(subject.groups, ref)) return decide(true, { code: 'group', group: ref });
    if (mfa.require === 'always') return decide(true, { code: 'always' });
    if (mfa.require === 'outside') {
      const network = trusted.match(subject.address);
      if (!network) return decide(true, { code: 'outside', address });
      // The operator's word: a trusted network is trusted, also for someone who has a factor.
      return decide(false, { code: 'trusted_network', address: address as string, network });
    }
    if (subject.factors.length > 0) return decide(true, { code: 'enrolled', factors: subject.factors.length });
    return decide(false, { code: 'not_required' });
  };
}

/** One line of English for the CLI's `explain` (the pages word the codes themselves, per language). */
export function describeMfaReason(r: MfaReason): string {
  switch (r.code) {
    case 'group':
      return `member of ${r.group} (mfa.requireForGroups)`;
    case 'always':
      return 'mfa.require is "always"';
    case 'outside':
      return `${r.address ?? 'an unknown address'} is in no mfa.trustedNetworks network`;
    case 'enrolled':
      return `has ${r.factors} factor${r.factors === 1 ? '' : 's'} enrolled`;
    case 'trusted_network':
      return `${r.address} is in the trusted network ${r.network}`;
    case 'not_required':
      return 'mfa.require is "never", no mfa.requireForGroups group, nothing enrolled';
  }
}
