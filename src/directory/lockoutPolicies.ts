// The lockout policy that applies to an account: the domain's, and the person's fine-grained password
// policy (msDS-ResultantPSO) where the service account may read it; the gateway keeps below the stricter.
import { NoSuchObjectError, InsufficientAccessError } from 'ldapts';
import { GatewayError } from '../errors.js';
import type { Logger } from '../shared/logger.js';
import type { DcConnections } from './dcConnections.js';
import type { AccountLockoutPolicy, FineGrainedPolicy, LockoutPolicy } from './directory.js';
import { bigint, first, str } from './ldapValues.js';

/** Policies change rarely and a change should not need a restart: read again after this long. */
const CACHE_MS = 5 * 60_000;

interface Cached<T> {
  at: number;
  value: T;
}

export class LockoutPolicies {
  #domain?: Cached<LockoutPolicy>;
  readonly #psos = new Map<string, Cached<FineGrainedPolicy | 'unreadable'>>();
  #container?: Cached<boolean>;
  #all?: Cached<FineGrainedPolicy[] | 'unreadable'>;
  #warned = false;

  constructor(
    private readonly conn: DcConnections,
    private readonly baseDn: string,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  async domain(): Promise<LockoutPolicy> {
    if (this.#domain && this.now() - this.#domain.at < CACHE_MS) return this.#domain.value;
    const res = await this.conn.withService('read_domain', (c) =>
      c.search(this.baseDn, { scope: 'base', filter: '(objectClass=*)', attributes: ['lockoutThreshold', 'lockOutObservationWindow'] }),
    );
    const entry = res.searchEntries[0];
    const value = { threshold: threshold(first(entry?.['lockoutThreshold'])), observationWindowMs: windowMs(entry?.['lockOutObservationWindow']) };
    this.#domain = { at: this.now(), value };
    return value;
  }

  /** The domain's policy, the account's PSO (or why there is none), and the stricter of the two. */
  async forAccount(dn: string): Promise<AccountLockoutPolicy> {
    const [domain, fineGrained] = await Promise.all([this.domain(), this.#fineGrained(dn)]);
    return { ...stricter(domain, fineGrained), domain, fineGrained };
  }

  /**
   * The domain's policy and every fine-grained policy in the Password Settings Container ('unreadable' when the
   * service account may not list them), for the warnings about thresholds the gateway cannot keep below.
   */
  async all(): Promise<{ domain: LockoutPolicy; fineGrained: FineGrainedPolicy[] | 'unreadable' }> {
    const domain = await this.domain();
    if (this.#all && this.now() - this.#all.at < CACHE_MS) return { domain, fineGrained: this.#all.value };
    let fineGrained: FineGrainedPolicy[] | 'unreadable';
    try {
      const res = await this.conn.withService('read_pso', (c) =>
        c.search(containerDn(this.baseDn), { scope: 'one', filter: '(objectClass=msDS-PasswordSettings)', attributes: ['cn', 'msDS-LockoutThreshold', 'msDS-LockoutObservationWindow'] }),
      );
      fineGrained = res.searchEntries
        .filter((e) => e['msDS-LockoutThreshold'] !== undefined)
        .map((e) => ({ name: str(e['cn']) || e.dn, dn: e.dn, threshold: threshold(first(e['msDS-LockoutThreshold'])), observationWindowMs: windowMs(e['msDS-LockoutObservationWindow']) }));
      if (!fineGrained.length && !(await this.#containerReadable())) fineGrained = 'unreadable';
    } catch (e) {
      if (!isHidden(e)) throw e;
      fineGrained = 'unreadable';
    }
    this.#all = { at: this.now(), value: fineGrained };
    return { domain, fineGrained };
  }

  async #fineGrained(dn: string): Promise<FineGrainedPolicy | 'none' | 'unreadable'> {
    // A constructed attribute: AD computes it only on a base-scope read of the one entry.
    const res = await this.conn.withService('read_pso', (c) => c.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes: ['msDS-ResultantPSO'] }));
    const psoDn = str(res.searchEntries[0]?.['msDS-ResultantPSO']);
    let found: FineGrainedPolicy | 'none' | 'unreadable';
    if (psoDn) found = await this.#pso(psoDn);
    // No PSO named: either none applies, or AD hides it from us. Only a readable container tells them apart.
    else found = (await this.#containerReadable()) ? 'none' : 'unreadable';
    if (found === 'unreadable' && !this.#warned) {
      this.#warned = true;
      this.log.warn(
        { container: containerDn(this.baseDn) },
        'fine-grained password policies are not readable by the service account: the sign-in throttle follows the domain lockout policy only (see docs/operating.md, "Lockout policy")',
      );
    }
    return found;
  }

  async #pso(dn: string): Promise<FineGrainedPolicy | 'unreadable'> {
    const hit = this.#psos.get(dn.toLowerCase());
    if (hit && this.now() - hit.at < CACHE_MS) return hit.value;
    let value: FineGrainedPolicy | 'unreadable';
    try {
      const res = await this.conn.withService('read_pso', (c) =>
        c.search(dn, { scope: 'base', filter: '(objectClass=msDS-PasswordSettings)', attributes: ['cn', 'msDS-LockoutThreshold', 'msDS-LockoutObservationWindow'] }),
      );
      const e = res.searchEntries[0];
      value =
        e && e['msDS-LockoutThreshold'] !== undefined
          ? { name: str(e['cn']) || dn, dn, threshold: threshold(first(e['msDS-LockoutThreshold'])), observationWindowMs: windowMs(e['msDS-LockoutObservationWindow']) }
          : 'unreadable';
    } catch (e) {
      if (!isHidden(e)) throw e;
      value = 'unreadable';
    }
    this.#psos.set(dn.toLowerCase(), { at: this.now(), value });
    return value;
  }

  async #containerReadable(): Promise<boolean> {
    if (this.#container && this.now() - this.#container.at < CACHE_MS) return this.#container.value;
    let value: boolean;
    try {
      const res = await this.conn.withService('read_pso', (c) => c.search(containerDn(this.baseDn), { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] }));
      value = res.searchEntries.length === 1;
    } catch (e) {
      if (!isHidden(e)) throw e;
      value = false;
    }
    this.#container = { at: this.now(), value };
    return value;
  }
}

export function containerDn(baseDn: string): string {
  return `CN=Password Settings Container,CN=System,${baseDn}`;
}

/** Lower threshold and longer window win; a threshold of 0 means "never locks" and loses to any other. */
export function stricter(domain: LockoutPolicy, fineGrained: FineGrainedPolicy | 'none' | 'unreadable'): LockoutPolicy & { source: 'domain' | 'fine-grained' } {
  const fg = typeof fineGrained === 'object' && fineGrained.threshold > 0 ? fineGrained : undefined;
  if (!fg) return { threshold: domain.threshold, observationWindowMs: domain.observationWindowMs, source: 'domain' };
  if (domain.threshold <= 0) return { threshold: fg.threshold, observationWindowMs: fg.observationWindowMs, source: 'fine-grained' };
  return {
    threshold: Math.min(domain.threshold, fg.threshold),
    observationWindowMs: Math.max(domain.observationWindowMs, fg.observationWindowMs),
    source: fg.threshold <= domain.threshold ? 'fine-grained' : 'domain',
  };
}

function threshold(v: string | Buffer | undefined): number {
  const n = Number(typeof v === 'string' ? v : (v?.toString('utf8') ?? '0'));
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** AD stores windows as a negative count of 100-nanosecond intervals. */
function windowMs(v: Parameters<typeof bigint>[0]): number {
  const w = bigint(v) ?? 0n;
  return Number((w < 0n ? -w : w) / 10_000n);
}

/** AD answers "no such object" for what we may not see, or "insufficient access"; the connection layer wraps both. */
function isHidden(e: unknown): boolean {
  const inner = e instanceof GatewayError ? e.cause : e;
  return inner instanceof NoSuchObjectError || inner instanceof InsufficientAccessError;
}
