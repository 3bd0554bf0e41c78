// The sign-in decision: throttle, directory, access policy; one public message per outcome, the exact reason to the audit log.
import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt } from 'node:crypto';
import type { Directory, DirectoryUser } from '../directory/directory.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { AccessPolicy } from '../mapping/resolveAccess.js';
import type { Identity } from '../session/identity.js';
import type { AuditLog } from '../shared/audit.js';
import type { Clock } from '../shared/clock.js';
import { buildIdentity } from './buildIdentity.js';
import type { LoginThrottle } from './throttle.js';

export const MAX_USERNAME = 256;
export const MAX_PASSWORD = 1024;

export interface LoginDeps {
  directory: Directory;
  throttle: () => Promise<LoginThrottle>;
  policy: () => AccessPolicy;
  audit: AuditLog;
  clock: Clock;
  /** Credential failures never answer faster than this, so an unknown user looks like a wrong password. */
  minFailureMs?: number;
  onResult?: (result: string) => void;
}

/** The throttle key: the account name without domain decoration, so `alice`, `CORP\alice` and `alice@corp…` share one counter. */
export function throttleKey(username: string): string {
  const u = username.trim().normalize('NFC').toLowerCase();
  const slash = u.lastIndexOf('\\');
  const bare = slash >= 0 ? u.slice(slash + 1) : u;
  const at = bare.lastIndexOf('@');
  return at > 0 ? bare.slice(0, at) : bare;
}

export class LoginService {
  constructor(private readonly d: LoginDeps) {}

  async login(username: string, password: string, address: string): Promise<Identity> {
    const started = this.d.clock.now();
    const key = throttleKey(username);
    const throttle = await this.d.throttle();
    try {
      await throttle.check(key, address);
    } catch (e) {
      this.fail(username, address, isGatewayError(e) && e.code === 'GW_THROTTLED' ? 'throttled' : 'throttle_store_unavailable');
      throw e;
    }
    let user: DirectoryUser;
    try {
      user = await this.d.directory.authenticate(username, password);
    } catch (e) {
      if (!isGatewayError(e)) throw e;
      const reason = (e as { reason?: string }).reason ?? e.code;
      if (e.code === 'GW_INVALID_CREDENTIALS') {
        // Only wrong passwords and unknown names count; outages and post-password refusals do not.
        await throttle.recordFailure(key, address);
        this.fail(username, address, reason);
        await this.pad(started);
      } else {
        this.fail(username, address, reason);
      }
      throw e;
    }
    const built = buildIdentity(user, this.d.policy());
    if (!built.ok) {
      this.fail(user.sAMAccountName, address, built.reason);
      throw new GatewayError(reasonCode(built.reason));
    }
    const identity = built.identity;
    await throttle.recordSuccess(key);
    this.d.audit.record({ kind: 'login.success', user: identity.username, address, detail: { orgRole: identity.orgRole, admin: identity.isAdmin } });
    this.d.onResult?.('success');
    return identity;
  }

  private fail(user: string, address: string, reason: string): void {
    this.d.audit.record({ kind: 'login.failure', user: user.slice(0, MAX_USERNAME), address, reason });
    this.d.onResult?.(reason);
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
