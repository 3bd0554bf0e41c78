// Gives tests the DC that the test runner started (see src/dev/sambaDc.ts), via SAG_TEST_DC.
import { readFile } from 'node:fs/promises';
import { runSambaTool, type SambaDcInfo } from '../../src/dev/sambaDc.js';
import type { Config } from '../../src/config/schema.js';

export type { SambaDcInfo } from '../../src/dev/sambaDc.js';

export function testDc(): SambaDcInfo {
  const raw = process.env['SAG_TEST_DC'];
  if (!raw) {
    throw new Error(
      'SAG_TEST_DC is not set: run the tests through `npm test`, or start a DC with ' +
        '`npx tsx src/dev/sambaDc.ts DIR` and export its JSON output as SAG_TEST_DC',
    );
  }
  return JSON.parse(raw) as SambaDcInfo;
}

/** Runs samba-tool against the test DC's database (e.g. ['user', 'unlock', 'lockme']). */
export function sambaTool(args: string[]): Promise<string> {
  return runSambaTool(testDc().smbConf, args);
}

/** An `ldap` config section pointing at the test DC over LDAPS with full certificate checks. */
export function testLdapConfig(overrides: Partial<Config['ldap']> = {}): Config['ldap'] {
  const dc = testDc();
  return {
    urls: [dc.ldapsUrl],
    startTls: false,
    caFile: dc.caFile,
    tlsRejectUnauthorized: true,
    tlsServerName: dc.serverName,
    bindDn: dc.serviceDn,
    bindPasswordFile: dc.servicePasswordFile,
    baseDn: dc.baseDn,
    netbiosDomain: dc.netbios,
    upnSuffixes: ['corp.example.com', 'staff.example.org'],
    timeout: 5000,
    maxConcurrentBinds: 16,
    bindQueueTimeout: 2000,
    ...overrides,
  };
}

export async function readServicePassword(): Promise<string> {
  return (await readFile(testDc().servicePasswordFile, 'utf8')).trim();
}

/** The Password Settings Container, where fine-grained password policies (PSOs) live. */
export function psoContainerDn(): string {
  return `CN=Password Settings Container,CN=System,${testDc().baseDn}`;
}

/**
 * Gives the service account the read access to PSOs that docs/operating.md ("Lockout policy") asks operators to grant:
 * read, list contents, list object and read control on the container, inherited by every PSO in it.
 * Idempotent: a second call finds the entry already there.
 */
export async function grantPsoRead(): Promise<void> {
  const dc = testDc();
  const sid = /objectSid: (\S+)/.exec(await sambaTool(['user', 'show', 'svc-sentry', '--attributes=objectSid']))?.[1];
  if (!sid) throw new Error('could not read the service account SID');
  const ace = `(A;CI;RPLCLORC;;;${sid})`;
  const db = `${dc.dir}/private/sam.ldb`;
  const current = await sambaTool(['dsacl', 'get', `--objectdn=${psoContainerDn()}`, '-H', db]);
  if (current.includes(ace)) return;
  await sambaTool(['dsacl', 'set', `--objectdn=${psoContainerDn()}`, `--sddl=${ace}`, '-H', db]);
}

/** Creates (or replaces) a fine-grained policy with a lockout threshold and window (minutes), applied to `applyTo`. */
export async function createPso(name: string, opts: { precedence: number; lockoutThreshold: number; windowMinutes: number; applyTo: string[] }): Promise<void> {
  await sambaTool(['domain', 'passwordsettings', 'pso', 'delete', name]).catch(() => undefined);
  await sambaTool([
    'domain',
    'passwordsettings',
    'pso',
    'create',
    name,
    String(opts.precedence),
    `--account-lockout-threshold=${opts.lockoutThreshold}`,
    `--reset-account-lockout-after=${opts.windowMinutes}`,
    `--account-lockout-duration=${Math.max(30, opts.windowMinutes)}`,
  ]);
  for (const who of opts.applyTo) await sambaTool(['domain', 'passwordsettings', 'pso', 'apply', name, who]);
}

/** AD's own count of bad passwords for an account, and whether it is locked. */
export async function badPasswords(user: string): Promise<{ count: number; locked: boolean }> {
  const out = await sambaTool(['user', 'show', user, '--attributes=badPwdCount,lockoutTime']);
  return { count: Number(/badPwdCount: (\d+)/.exec(out)?.[1] ?? '0'), locked: /lockoutTime: [1-9]/.test(out) };
}
