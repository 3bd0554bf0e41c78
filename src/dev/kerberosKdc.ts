// The test DC as a Kerberos KDC (scripts/dev-dc/provision.sh runs `kdc` beside `ldap`): a client krb5.conf,
// a service account with an HTTP/<host> SPN and its keytab, client tickets from kinit. For tests and the demo.
//
// Everything goes through the real tools (samba-tool, kinit, kdestroy) so a ticket here is what a domain-joined
// machine would hold, and a keytab is what an operator would export.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { Attribute, Change, Client } from 'ldapts';
import { runSambaTool, type SambaDcInfo } from './sambaDc.js';

const run = promisify(execFile);

/** The host name tests put in URLs (browsers and curl build the SPN `HTTP/<host>` from it); it resolves to 127.0.0.1 by rules, not DNS. */
export const SERVICE_HOST = 'sentry.corp.example.com';

/** msDS-SupportedEncryptionTypes: AES128 (0x08) | AES256 (0x10). Without it the KDC issues RC4 service tickets and exports RC4 keys only. */
const AES_ONLY = '24';

/** What a Kerberos client (kinit, curl --negotiate, Chromium) needs in its environment. */
export interface KerberosClientEnv {
  KRB5_CONFIG: string;
  /** `FILE:<path>` of the credential cache. */
  KRB5CCNAME: string;
}

export interface ServiceKeytab {
  /** The keytab file (mode 0600). */
  keytabFile: string;
  /** sAMAccountName of the account holding the SPN. */
  account: string;
  /** `HTTP/<host>`, as auth.kerberos.servicePrincipal takes it. */
  servicePrincipal: string;
  /** The same with the realm, as the keytab names it. */
  principal: string;
  host: string;
}

/**
 * Writes DIR/krb5.conf for clients of the test DC and returns the environment that points at it, with a
 * credential cache in DIR. TCP only (udp_preference_limit 1) and no DNS at all: the KDC is 127.0.0.1 and
 * host names are taken as given, so the SPN is HTTP/<the URL's host> and nothing is looked up.
 */
export async function writeClientKrb5Conf(dc: Pick<SambaDcInfo, 'realm'>, dir: string): Promise<KerberosClientEnv> {
  const realm = dc.realm;
  const domain = realm.toLowerCase();
  const file = path.join(dir, 'krb5.conf');
  await writeFile(
    file,
    [
      '[libdefaults]',
      `  default_realm = ${realm}`,
      '  dns_lookup_kdc = false',
      '  dns_lookup_realm = false',
      '  rdns = false',
      '  dns_canonicalize_hostname = false',
      '  udp_preference_limit = 1',
      '',
      '[realms]',
      `  ${realm} = {`,
      '    kdc = 127.0.0.1',
      '  }',
      '',
      '[domain_realm]',
      `  .${domain} = ${realm}`,
      `  ${domain} = ${realm}`,
      '',
    ].join('\n'),
  );
  return { KRB5_CONFIG: file, KRB5CCNAME: 'FILE:' + path.join(dir, 'ccache') };
}

/** The account name for a host's SPN: `http-` and the host's first label (sAMAccountName is at most 20 characters). */
function accountFor(host: string): string {
  return ('http-' + host.split('.')[0]!).slice(0, 20);
}

function randomPassword(): string {
  // Upper, lower, digit and symbol, so it meets the domain's complexity rule whatever the random part holds.
  return 'Kt9!' + randomBytes(18).toString('base64url');
}

async function setAesOnly(dc: SambaDcInfo, account: string): Promise<void> {
  const ca = await readFile(dc.caFile);
  const client = new Client({
    url: dc.ldapsUrl,
    tlsOptions: { ca: [ca], servername: dc.serverName, checkServerIdentity: (_h, cert) => tls.checkServerIdentity(dc.serverName, cert) },
  });
  try {
    await client.bind(dc.adminDn, dc.adminPassword);
    const { searchEntries } = await client.search(dc.baseDn, { scope: 'sub', filter: `(sAMAccountName=${account})`, attributes: ['dn'] });
    const dn = searchEntries[0]?.dn;
    if (!dn) throw new Error(`service account ${account} not found after creating it`);
    await client.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'msDS-SupportedEncryptionTypes', values: [AES_ONLY] }) }));
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

async function exportKeytab(dc: SambaDcInfo, servicePrincipal: string, file: string): Promise<void> {
  // samba-tool appends to a keytab that exists (the rotation below relies on that) and writes a new one with mode 0600.
  await runSambaTool(dc.smbConf, ['domain', 'exportkeytab', file, `--principal=${servicePrincipal}`]);
}

/**
 * Makes (or finds) the service account holding `HTTP/<host>` with AES keys, and exports its keytab to DIR.
 * Idempotent: a second test file on the same DC finds the account and exports its current keys.
 */
export async function createServiceKeytab(dc: SambaDcInfo, dir: string, opts: { host?: string; account?: string } = {}): Promise<ServiceKeytab> {
  const host = opts.host ?? SERVICE_HOST;
  const account = opts.account ?? accountFor(host);
  const servicePrincipal = `HTTP/${host}`;
  const samba = (args: string[]) => runSambaTool(dc.smbConf, args);
  await samba(['user', 'create', account, randomPassword(), '--description=Kerberos service account for the gateway (tests)']).catch((e: { stderr?: string; message: string }) => {
    if (!/already exists/i.test(e.stderr ?? e.message)) throw new Error(`samba-tool user create ${account} failed: ${e.stderr ?? e.message}`);
  });
  if (!(await samba(['spn', 'list', account])).includes(servicePrincipal)) await samba(['spn', 'add', servicePrincipal, account]);
  await setAesOnly(dc, account);
  const keytabFile = path.join(dir, `${account}.keytab`);
  await exportKeytab(dc, servicePrincipal, keytabFile);
  return { keytabFile, account, servicePrincipal, principal: `${servicePrincipal}@${dc.realm}`, host };
}

/**
 * Rotates the service account's password (its kvno goes up by one) and exports a new keytab holding the keys
 * before and after, as an operator does to rotate without a failed sign-in: tickets issued before the change
 * still decrypt. Returns the new keytab (beside the old one, which is left as it was).
 */
export async function rotateServiceKeytab(dc: SambaDcInfo, service: ServiceKeytab, name = 'rotated'): Promise<ServiceKeytab> {
  const keytabFile = path.join(path.dirname(service.keytabFile), `${service.account}.${name}.keytab`);
  await copyFile(service.keytabFile, keytabFile);
  await runSambaTool(dc.smbConf, ['user', 'setpassword', service.account, `--newpassword=${randomPassword()}`]);
  await exportKeytab(dc, service.servicePrincipal, keytabFile);
  return { ...service, keytabFile };
}

/** The account's current kvno as the directory holds it (msDS-KeyVersionNumber): what the KDC puts in new tickets. */
export async function currentKvno(dc: SambaDcInfo, account: string): Promise<number> {
  const out = await runSambaTool(dc.smbConf, ['user', 'show', account, '--attributes=msDS-KeyVersionNumber']);
  const kvno = /msDS-KeyVersionNumber: (\d+)/.exec(out)?.[1];
  if (!kvno) throw new Error(`no msDS-KeyVersionNumber for ${account}`);
  return Number(kvno);
}

export class KinitError extends Error {
  constructor(
    readonly principal: string,
    /** kinit's own words, e.g. "kinit: Password incorrect while getting initial credentials". */
    readonly detail: string,
  ) {
    super(`kinit ${principal} failed: ${detail}`);
    this.name = 'KinitError';
  }
}

/**
 * Gets a TGT for `principal` (a bare name takes the default realm) into `ccache`, the password on stdin as a
 * person types it. Returns the client environment with KRB5CCNAME pointing at that cache.
 */
export async function kinit(env: KerberosClientEnv, principal: string, password: string, ccache?: string): Promise<KerberosClientEnv> {
  const clientEnv = { ...env, ...(ccache ? { KRB5CCNAME: 'FILE:' + ccache } : {}) };
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('kinit', [principal], { env: { ...process.env, ...clientEnv }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stderr }));
    child.stdin.end(password + '\n');
  });
  // kinit prints its prompt and password-expiry warnings on stderr too; the error is its last line.
  if (code !== 0) throw new KinitError(principal, stderr.trim().split('\n').pop() ?? `exit code ${code}`);
  return clientEnv;
}

/** `klist` of the environment's cache: what a person would check their ticket with. */
export async function klist(env: KerberosClientEnv): Promise<string> {
  const { stdout } = await run('klist', [], { env: { ...process.env, ...env } });
  return stdout;
}

/** Destroys the environment's credential cache (a missing one is not an error). */
export async function kdestroy(env: KerberosClientEnv): Promise<void> {
  await run('kdestroy', [], { env: { ...process.env, ...env } }).catch(() => undefined);
}
