// What a full sync needs (AD, Sentry, the rules, the provisioner, the offboarder), assembled one way for the
// periodic sync, the console's and the command line's.
import type { Config } from '../config/schema.js';
import type { Keyring } from '../keys/keyring.js';
import type { SyncDeps } from './fullSync.js';
import { buildOffboarder } from './offboard.js';

export interface SyncSources {
  config: Config;
  directory: SyncDeps['directory'];
  rules: SyncDeps['rules'];
  sentry?: SyncDeps['admin'];
  provisioner?: SyncDeps['provisioner'];
  audit: SyncDeps['audit'];
  logger: SyncDeps['logger'];
  /** The keys the gateways sign with: the offboarder's request to the Sentry-side module is signed with the current one. */
  keyring: Keyring;
  clock: NonNullable<SyncDeps['clock']>;
  /** Where sessions can be ended (a process without Redis cannot reach the running gateways' sessions). */
  endSessions?: (sub: string) => Promise<number>;
  onApplied?: SyncDeps['onApplied'];
}

/** Undefined without a Sentry client (sentry.organization and sentry.tokenFile unset): there is nothing to sync. */
export function buildSyncDeps(s: SyncSources): SyncDeps | undefined {
  if (!s.sentry || !s.provisioner) return undefined;
  const { removeMembers, maxRemovalsPercent } = s.config.sentry.sync;
  return {
    directory: s.directory,
    admin: s.sentry,
    rules: s.rules,
    provisioner: s.provisioner,
    access: s.config.access,
    removeMembers,
    maxRemovalsPercent,
    audit: s.audit,
    logger: s.logger,
    offboarder: buildOffboarder(s.config, s.keyring, s.clock),
    clock: s.clock,
    ...(s.endSessions ? { endSessions: s.endSessions } : {}),
    ...(s.onApplied ? { onApplied: s.onApplied } : {}),
  };
}
