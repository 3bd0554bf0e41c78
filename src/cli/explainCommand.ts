// `explain USER`: what the gateway would decide for this person and why (groups with their nesting path, access, role, teams).
import { buildBackends } from '../compositionRoot.js';
import { isGatewayError } from '../errors.js';
import { explainUser } from '../mapping/explainUser.js';
import { describeLockout, explainLockout } from '../auth/explainLockout.js';
import { cliLogger, loadOrExit, table, UsageError, type CommonFlags } from './common.js';
import { FactorStore } from '../mfa/factorStore.js';
import { compileMfaPolicy } from '../mfa/mfaPolicy.js';
import { describeMfaExplanation, explainMfa } from '../mfa/explainMfa.js';
import { SecretBox } from '../mfa/secretBox.js';
import { systemClock } from '../shared/clock.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function explainCommand(username: string | undefined, flags: CommonFlags & { passwordStdin?: boolean; from?: string }): Promise<number> {
  if (!username) throw new UsageError('explain needs a username: explain USER [--password-stdin]');
  const { config } = loadOrExit(flags);
  const backends = buildBackends(config, cliLogger(config));
  const { directory } = backends;
  try {
    await backends.ready();
    let passwordCheck: string | undefined;
    if (flags.passwordStdin) {
      const password = await readStdin();
      try {
        await directory.authenticate(username, password);
        passwordCheck = 'verified';
      } catch (e) {
        if (!isGatewayError(e)) throw e;
        passwordCheck = `refused: ${(e as { reason?: string }).reason ?? e.code}`;
      }
    }
    const user = await directory.lookup(username);
    if (!user) {
      if (flags.json) process.stdout.write(JSON.stringify({ found: false, username }) + '\n');
      else process.stdout.write(`${username}: no such user in the directory\n`);
      return 1;
    }
    const { orgRole, teams, ...rest } = explainUser(user, config.access, await backends.rules.current());
    const lockout = explainLockout(await directory.accountLockoutPolicy(user.dn), { perUser: config.throttle.perUser, windowMs: config.throttle.window });
    // Listing factors reads no secret: the key file is never opened here.
    const factors = backends.redis ? await new FactorStore(backends.redis, new SecretBox(() => [], { lazy: true }), systemClock).list(user.guid) : [];
    const explained = explainMfa(compileMfaPolicy(config.mfa), user, factors, flags.from);
    const mfa = { ...explained, factors: factors.length, factorList: explained.factors.map((f) => ({ kind: f.kind, name: f.name })) };
    // The JSON keeps its documented shape: rule indexes are for the console's links.
    const out = { ...rest, orgRole: { role: orgRole.role, from: orgRole.from }, teams: teams.map((t) => ({ slug: t.slug, role: t.role, from: t.from })), lockout, mfa };
    if (flags.json) {
      process.stdout.write(JSON.stringify({ found: true, ...out, ...(passwordCheck ? { password: passwordCheck } : {}) }, null, 2) + '\n');
      return 0;
    }
    const lines = [
      `${out.user.username} — ${out.user.name} <${out.user.email}>`,
      `  DN:       ${out.user.dn}`,
      `  UPN:      ${out.user.upn}`,
      `  Account:  ${out.user.blocked ? `cannot sign in (${out.user.blocked})` : 'can sign in'}`,
      ...(passwordCheck ? [`  Password: ${passwordCheck}`] : []),
      ...describeLockout(lockout),
      '',
      `Groups (${out.groups.length}):`,
      table([['  group', 'how'], ...out.groups.map((g) => [`  ${g.name}`, g.path.length <= 1 ? (g.path[0] === 'primary group' ? 'primary group' : 'direct member') : `via ${g.path.slice(0, -1).join(' → ')}`])]),
      '',
      `Access:   ${out.access.allowed ? 'ALLOWED' : 'DENIED'} (${out.access.reason}${'matchedGroup' in out.access && out.access.matchedGroup ? `: ${out.access.matchedGroup}` : ''})`,
      `Admin:    ${out.admin ? 'yes' : 'no'}`,
      ...describeMfaExplanation(explained),
      `Org role: ${out.orgRole.role} — ${out.orgRole.from}`,
      `Teams:    ${out.teams.length ? '' : '(none)'}`,
      ...(out.teams.length ? [table([['  team', 'role', 'from'], ...out.teams.map((t) => [`  ${t.slug}`, t.role, t.from.join(', ')])])] : []),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await backends.close();
  }
}
