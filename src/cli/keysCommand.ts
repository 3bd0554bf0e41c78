// `keys list` / `keys rotate`: the signing keys in assertion.keysDir, shared by every replica that mounts it (docs/design.md §9).
import { buildBackends, buildKeyring, keysDirOf } from '../compositionRoot.js';
import { Keyring, KeyringError, ROTATION_MARGIN_MS, type StoredKey } from '../keys/keyring.js';
import { systemClock } from '../shared/clock.js';
import { cliLogger, loadOrExit, table, UsageError, type CommonFlags } from './common.js';

const iso = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

function rows(ring: Keyring): (Pick<StoredKey, 'kid' | 'alg' | 'createdAt' | 'activatesAt' | 'retiresAt'> & { state: string })[] {
  return ring.list().map((k) => ({ kid: k.kid, alg: k.alg, state: ring.stateOf(k), createdAt: k.createdAt, activatesAt: k.activatesAt, ...(k.retiresAt !== undefined ? { retiresAt: k.retiresAt } : {}) }));
}

function print(ring: Keyring, json: boolean, extra: Record<string, unknown> = {}): void {
  const keys = rows(ring);
  if (json) {
    const out = keys.map((k) => ({ ...k, createdAt: iso(k.createdAt), activatesAt: iso(k.activatesAt), ...(k.retiresAt !== undefined ? { retiresAt: iso(k.retiresAt) } : {}) }));
    process.stdout.write(JSON.stringify({ ...extra, keys: out }, null, 2) + '\n');
    return;
  }
  process.stdout.write(table([['KID', 'ALG', 'STATE', 'SIGNS FROM', 'LEAVES JWKS'], ...keys.map((k) => [k.kid, k.alg, k.state, iso(k.activatesAt), iso(k.retiresAt)])]) + '\n');
}

export async function keysCommand(sub: string | undefined, flags: CommonFlags): Promise<number> {
  if (sub !== 'list' && sub !== 'rotate') throw new UsageError('keys needs a subcommand: keys list | keys rotate');
  const { config } = loadOrExit(flags);
  const dir = keysDirOf(config);
  const ring = buildKeyring(config, systemClock);
  if (sub === 'list') {
    if (await ring.load()) process.stderr.write(`note: ${dir} held no key: created the first one\n`);
    print(ring, !!flags.json);
    return 0;
  }
  const b = buildBackends(config, cliLogger(config));
  try {
    // The audit record also goes to the log line; a Redis outage must not block an emergency rotation.
    await b.ready().catch((e: Error) => process.stderr.write(`warning: ${e.message}; the audit event goes to the log only\n`));
    await ring.load();
    const actor = `cli:${process.env.USER ?? 'unknown'}`;
    let result;
    try {
      result = await ring.rotate(config.assertion.ttl);
    } catch (e) {
      if (!(e instanceof KeyringError)) throw e;
      process.stderr.write(`${e.message}\nRun \`keys rotate\` again after that time.\n`);
      return 1;
    }
    const { added, retiring, deleted } = result;
    b.audit.record({
      kind: 'key.rotated',
      actor,
      detail: { kid: added.kid, activatesAt: iso(added.activatesAt), retiring: retiring.map((k) => ({ kid: k.kid, retiresAt: iso(k.retiresAt) })), deleted, keysDir: dir, marginMs: ROTATION_MARGIN_MS },
    });
    if (!flags.json) {
      process.stdout.write(
        `Added key ${added.kid}: published in the JWKS now, signing from ${iso(added.activatesAt)} (assertion.ttl + ${ROTATION_MARGIN_MS / 1000} s).\n` +
          retiring.map((k) => `Key ${k.kid} signs until then and leaves the JWKS at ${iso(k.retiresAt)}.\n`).join('') +
          (deleted.length ? `Deleted key files retired long ago: ${deleted.join(', ')}.\n` : '') +
          'Every replica sharing this keys directory follows within seconds.\n\n',
      );
    }
    print(ring, !!flags.json, { rotated: { kid: added.kid, activatesAt: iso(added.activatesAt), retiring: retiring.map((k) => k.kid), deleted } });
    return 0;
  } finally {
    await b.close();
  }
}
