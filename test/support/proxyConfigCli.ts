// The commands that print a proxy's configuration (nginx-config, caddy-config) read the same gateway.yaml the same
// way: the config file each test writes, and the check that the command prints what the generator makes of it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { stringify } from 'yaml';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { runCli } from './cli.js';

/** A scratch folder for the test file (removed after it) holding a bind password file, and the ldap section naming it. */
export function configScratch(name: string): { dir: string; ldap: NonNullable<ConfigInput['ldap']> } {
  const dir = mkdtempSync(join(tmpdir(), `sag-test-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const bindPasswordFile = join(dir, 'bind_password');
  writeFileSync(bindPasswordFile, 'not-a-real-password\n', { mode: 0o600 });
  return { dir, ldap: { urls: ['ldaps://dc1.corp.example.com'], bindDn: 'CN=svc', bindPasswordFile, baseDn: 'DC=corp,DC=example,DC=com' } };
}

/** Writes `doc` as a gateway.yaml in a fresh folder under `dir`: each call a file of its own. */
export function writeConfigFile(dir: string, doc: unknown): string {
  const f = join(mkdtempSync(join(dir, 'cfg-')), 'gateway.yaml');
  writeFileSync(f, stringify(doc));
  return f;
}

/** `command --config <file>` exits 0 and prints exactly what `generate` makes of the same file. */
export async function assertPrintsGenerated(dir: string, command: string, doc: ConfigInput, generate: (config: Config, opts: { source: string }) => string): Promise<void> {
  const f = writeConfigFile(dir, doc);
  const r = await runCli([command, '--config', f]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, generate(configSchema.parse(doc), { source: f }));
}
