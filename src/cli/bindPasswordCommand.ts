// `bind-password rotate [--generate]`: change the service account's password in AD with its own rights,
// verify it, then replace ldap.bindPasswordFile atomically; replicas follow without a restart (docs/design.md §9).
import { readFileSync } from 'node:fs';
import { buildBackends } from '../compositionRoot.js';
import { commitPassword, discardPendingPassword, pendingPasswordPath, writePendingPassword } from '../directory/bindPassword.js';
import { changeOwnPassword, generatePassword, PasswordChangeError, verifyServiceBind, type BindCheck } from '../directory/changeOwnPassword.js';
import type { Config } from '../config/schema.js';
import type { ErrorCode } from '../errors.js';
import { cliLogger, loadOrExit, UsageError, type CommonFlags } from './common.js';

const VERIFY_FOR_MS = 60_000;

function readNewPassword(generate: boolean): string {
  if (generate) return generatePassword();
  if (process.stdin.isTTY) throw new UsageError('bind-password rotate reads the new password from standard input (one line), or use --generate');
  const value = readFileSync(0, 'utf8').split(/\r?\n/, 1)[0] ?? '';
  if (!value) throw new UsageError('no new password on standard input');
  return value;
}

/**
 * Every reachable DC must accept the new password before the file changes: another DC may not have
 * the change yet (replication), and a replica binding there with a file that says "new" would fail.
 */
async function verifyEverywhere(ldap: Config['ldap'], password: string): Promise<{ ok: boolean; results: BindCheck[] }> {
  const until = Date.now() + VERIFY_FOR_MS;
  for (;;) {
    const v = await verifyServiceBind(ldap, password);
    if (v.ok || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

export async function bindPasswordCommand(sub: string | undefined, flags: CommonFlags & { generate?: boolean }): Promise<number> {
  if (sub !== 'rotate') throw new UsageError('bind-password needs a subcommand: bind-password rotate [--generate]');
  const { config } = loadOrExit(flags);
  const file = config.ldap.bindPasswordFile;
  const next = readNewPassword(!!flags.generate);
  const current = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  if (next === current) throw new UsageError('the new password is the one in the file already');
  const actor = `cli:${process.env.USER ?? 'unknown'}`;
  const out = (human: string, json: Record<string, unknown>) => process.stdout.write(flags.json ? JSON.stringify(json, null, 2) + '\n' : human);

  const b = buildBackends(config, cliLogger(config));
  try {
    await b.ready().catch((e: Error) => process.stderr.write(`warning: ${e.message}; the audit event goes to the log only\n`));
    // Parked first: it proves the directory is writable before AD changes, and replicas that need a new
    // service connection between AD's change and the file's replacement find the new password here.
    writePendingPassword(file, next);
    let dc: string;
    try {
      ({ dc } = await changeOwnPassword(config.ldap, current, next));
    } catch (e) {
      discardPendingPassword(file);
      const code: ErrorCode = e instanceof PasswordChangeError ? e.code : 'GW_PASSWORD_CHANGE_FAILED';
      const message = (e as Error).message;
      b.audit.record({ kind: 'bind_password.rotation_failed', actor, reason: code, detail: { bindDn: config.ldap.bindDn, error: message } });
      process.stderr.write(`bind password NOT rotated: ${message}\nNothing changed: AD and ${file} keep the current password.\n`);
      if (code === 'GW_PASSWORD_POLICY') {
        process.stderr.write('AD applies its password policy to a change made with the account\'s own rights (minimum age, history, complexity). ' + 'A fine-grained password policy (PSO) for the service account with minimum age 0 allows rotating more than once a day.\n');
      }
      if (flags.json) process.stdout.write(JSON.stringify({ ok: false, code, error: message }, null, 2) + '\n');
      return 1;
    }
    const verified = await verifyEverywhere(config.ldap, next);
    if (!verified.ok) {
      // AD holds the new password now: keep it parked (replicas use it) and say how to finish by hand.
      const detail = verified.results.map((r) => `${r.url}: ${r.ok ? 'ok' : r.error}`).join('; ');
      b.audit.record({ kind: 'bind_password.rotation_failed', actor, reason: 'GW_PASSWORD_NOT_VERIFIED', detail: { bindDn: config.ldap.bindDn, dc, verify: verified.results } });
      process.stderr.write(`AD (${dc}) accepted the new password, but a bind with it did not succeed everywhere (${detail}).\n` + `The new password is in ${pendingPasswordPath(file)}; once every DC accepts it, move that file over ${file}.\n`);
      if (flags.json) process.stdout.write(JSON.stringify({ ok: false, code: 'GW_PASSWORD_NOT_VERIFIED', dc, verify: verified.results }, null, 2) + '\n');
      return 1;
    }
    commitPassword(file, next);
    b.audit.record({ kind: 'bind_password.rotated', actor, detail: { bindDn: config.ldap.bindDn, dc, generated: !!flags.generate, file } });
    out(`Rotated the password of ${config.ldap.bindDn} on ${dc}, verified on ${verified.results.filter((r) => r.ok).length} DC(s), and wrote ${file}.\nReplicas take it up at their next bind (they re-read the file when AD refuses the old one).\n`, {
      ok: true,
      bindDn: config.ldap.bindDn,
      dc,
      file,
      generated: !!flags.generate,
      verify: verified.results,
    });
    return 0;
  } finally {
    await b.close();
  }
}
