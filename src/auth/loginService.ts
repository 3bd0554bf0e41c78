// The sign-in decision: throttle, directory, access policy; one public message per outcome, the exact reason to the audit log.
import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt } from 'node:crypto';
import { isDirectoryAuthError } from '../directory/adErrors.js';
import type { Directory, DirectoryUser } from '../directory/directory.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { AccessPolicy } from '../mapping/resolveAccess.js';
import type { Identity } from '../session/identity.js';
import type { AuditLog } from '../audit/auditLog.js';
import type { Clock } from '../shared/clock.js';
import type { NameHasher } from '../shared/nameHasher.js';
import { buildIdentity } from './buildIdentity.js';
import type { LoginThrottle } from './throttle.js';

export const MAX_USERNAME = 256;
export const MAX_PASSWORD = 1024;

export interface LoginDeps {
  directory: Directory;
  throttle: LoginThrottle;
  policy: () => Promise<AccessPolicy>;
  /**
   * Runs after a successful sign-in (provisioning) with the policy the identity was resolved under, so nothing after
   * it reads the rules again; it bounds its own time and never fails the sign-in.
   */
  afterLogin?: (identity: Identity, policy: AccessPolicy) => Promise<void>;
  audit: AuditLog;
  /** Keys names that match no account: they may be passwords typed into the wrong field. */
  names: NameHasher;
  clock: Clock;
  /** Credential failures never answer faster than this, so an unknown user looks like a wrong password. */
  minFailureMs?: number;
  onResult?: (result: string) => void;
}

export class LoginService {
  constructor(private readonly d: LoginDeps) {}

  /**
   * `reauth`: the signed-in person typing their password again (`/_gateway/reauth`). Throttled, padded
   * and audited as a failure exactly like a sign-in; its success is audited as `reauth.success` and
   * does not provision again.
   */
  async login(username: string, password: string, address: string, opts: { reauth?: boolean } = {}): Promise<Identity> {
    const started = this.d.clock.now();
    const throttle = this.d.throttle;
    let accountKey: string | undefined;
    let knownAccount = false;
    let user: DirectoryUser;
    try {
      await throttle.takeAddress(address);
      user = await this.d.directory.authenticate(username, password, {
        beforeBind: async (key, lockout) => {
          knownAccount = key.startsWith('dn:');
          // A name that matches no account is counted (and stored in Redis) only under its keyed hash.
          accountKey = knownAccount ? key : `name:${this.d.names.hash(username)}`;
          await throttle.takeUser(accountKey, lockout);
        },
      });
    } catch (e) {
      if (!isGatewayError(e)) throw e;
      const reason = isDirectoryAuthError(e) ? e.reason : e.code === 'GW_THROTTLED' ? 'throttled' : e.code;
      // Until the name has matched an account (refused earlier, or matched nothing) it may be a password: keep only its hash.
      this.fail(knownAccount ? username : this.d.names.hash(username), address, reason);
      if (e.code === 'GW_INVALID_CREDENTIALS') {
        // A wrong password or unknown name keeps its place in both counts; everything else hands it back.
        await this.pad(started);
      } else if (e.code !== 'GW_THROTTLED' && e.code !== 'GW_ACCOUNT_LOCKED') {
        await throttle.giveBack(accountKey, address);
      }
      throw e;
    }
    const policy = await this.d.policy();
    const built = buildIdentity(user, policy);
    if (!built.ok) {
      await throttle.giveBack(accountKey, address);
      this.fail(user.sAMAccountName, address, built.reason);
      throw new GatewayError(reasonCode(built.reason));
    }
    const identity = built.identity;
    await throttle.succeeded(accountKey ?? `dn:${user.dn.toLowerCase()}`, address);
    this.d.audit.record({ kind: opts.reauth ? 'reauth.success' : 'login.success', user: identity.username, address, detail: { orgRole: identity.orgRole, admin: identity.isAdmin } });
    this.d.onResult?.('success');
    if (!opts.reauth) await this.d.afterLogin?.(identity, policy).catch(() => undefined);
    return identity;
  }

  /**
   * A sign-in whose credential something else already checked (a Kerberos ticket, negotiate.ts): the principal's
   * `name` in `realm` is read with the service account (Directory.lookupPrincipal: exactly one account, the one
   * called `name`; `account`, `NETBIOS\\name`, is how the audit names it), then the same refusals, access policy,
   * audit and provisioning as a password sign-in. The caller throttles (the token, not a guessed password).
   */
  async loginChecked(principal: { account: string; name: string; realm: string }, address: string, source: 'kerberos'): Promise<Identity> {
    const detail = { source };
    const account = principal.account;
    let user: DirectoryUser | null;
    try {
      user = await this.d.directory.lookupPrincipal(principal.name, principal.realm);
    } catch (e) {
      if (!isGatewayError(e)) throw e;
      this.fail(account, address, e.code, detail);
      throw e;
    }
    if (!user) {
      this.fail(account, address, 'no_such_user', detail);
      throw new GatewayError('GW_INVALID_CREDENTIALS');
    }
    const policy = await this.d.policy();
    const built = buildIdentity(user, policy);
    if (!built.ok) {
      this.fail(user.sAMAccountName, address, built.reason, detail);
      throw new GatewayError(reasonCode(built.reason));
    }
    const identity = built.identity;
    this.d.audit.record({ kind: 'login.success', user: identity.username, address, detail: { orgRole: identity.orgRole, admin: identity.isAdmin, ...detail } });
    this.d.onResult?.('success');
    await this.d.afterLogin?.(identity, policy).catch(() => undefined);
    return identity;
  }

  /**
   * A Negotiate token takes one attempt from the client address's allowance (the password form's) before GSSAPI,
   * a log line or an audit entry is spent on it; throws GW_THROTTLED past it. Given back once a token is accepted.
   */
  async takeTokenAllowance(address: string): Promise<void> {
    await this.d.throttle.takeAddress(address);
  }

  async returnTokenAllowance(address: string): Promise<void> {
    await this.d.throttle.giveBack(undefined, address);
  }

  private fail(user: string, address: string, reason: string, detail?: Record<string, unknown>): void {
    this.d.audit.record({ kind: 'login.failure', user: user.slice(0, MAX_USERNAME), address, reason, ...(detail ? { detail } : {}) });
    this.d.onResult?.(reason);
  }

  /** A Kerberos token refused before any account was named (malformed, NTLM, wrong service, replayed, ...). */
  refusedToken(principal: string | undefined, address: string, reason: string, source: 'kerberos'): void {
    // No principal yet (the token itself was refused): the entry names nobody rather than an empty name.
    if (principal === undefined) {
      this.d.audit.record({ kind: 'login.failure', address, reason, detail: { source } });
      this.d.onResult?.(reason);
      return;
    }
    this.fail(principal, address, reason, { source });
  }

  private async pad(started: number): Promise<void> {
    const floor = (this.d.minFailureMs ?? 400) + randomInt(0, 60);
    const left = floor - (this.d.clock.now() - started);
    if (left > 0) await sleep(left);
  }
}

function reasonCode(reason: string): 'GW_ACCOUNT_DISABLED' | 'GW_ACCOUNT_EXPIRED' | 'GW_PASSWORD_EXPIRED' | 'GW_ACCOUNT_LOCKED' | 'GW_NOT_AUTHORIZED' {
  switch (reason) {
    case 'account_disabled':
      return 'GW_ACCOUNT_DISABLED';
    case 'account_expired':
      return 'GW_ACCOUNT_EXPIRED';
    case 'account_locked':
      return 'GW_ACCOUNT_LOCKED';
    case 'password_expired':
    case 'password_must_change':
      return 'GW_PASSWORD_EXPIRED';
    default:
      return 'GW_NOT_AUTHORIZED';
  }
}
