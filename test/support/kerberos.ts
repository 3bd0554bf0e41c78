// Kerberos for tests in one call: the test DC's KDC, a service keytab for HTTP/sentry.corp.example.com, tickets
// from kinit, and real `curl --negotiate` against a gateway on loopback (src/dev/kerberosKdc.ts does the work).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadKerberosBinding } from '../../src/auth/kerberos/gssapiAcceptor.js';
import { USERS } from '../../src/dev/fixtures.js';
import {
  SERVICE_HOST,
  createServiceKeytab,
  kdestroy,
  kinit,
  rotateServiceKeytab,
  writeClientKrb5Conf,
  type KerberosClientEnv,
  type ServiceKeytab,
} from '../../src/dev/kerberosKdc.js';
import { testDc } from './dc.js';

const run = promisify(execFile);

export { SERVICE_HOST, type KerberosClientEnv, type ServiceKeytab } from '../../src/dev/kerberosKdc.js';

export interface KerberosFixture {
  dir: string;
  /** The client environment without a ticket (its cache does not exist): a browser on a machine with no ticket. */
  env: KerberosClientEnv;
  service: ServiceKeytab;
  /** A ticket for a fixture user (its password from src/dev/fixtures.ts), in a cache of its own; the same user twice reuses it. */
  ticket(user: keyof typeof USERS): Promise<KerberosClientEnv>;
  /** A new keytab with the keys before and after a password change of the service account. */
  rotate(name?: string): Promise<ServiceKeytab>;
  close(): Promise<void>;
}

/** For a `before` hook: the SPN and keytab once per test file (another host keeps a file's rotation to itself). */
export async function kerberosFixture(opts: { host?: string } = {}): Promise<KerberosFixture> {
  const dc = testDc();
  const dir = await mkdtemp(path.join(tmpdir(), 'sag-krb-'));
  const env = await writeClientKrb5Conf(dc, dir);
  const service = await createServiceKeytab(dc, dir, opts.host ? { host: opts.host } : {});
  const tickets = new Map<string, KerberosClientEnv>();
  return {
    dir,
    env,
    service,
    async ticket(user) {
      const known = tickets.get(user);
      if (known) return known;
      const u = USERS[user];
      const got = await kinit(env, `${u.sAMAccountName}@${dc.realm}`, u.password, path.join(dir, `ccache.${u.sAMAccountName}`));
      tickets.set(user, got);
      return got;
    },
    rotate: (name) => rotateServiceKeytab(dc, service, name),
    async close() {
      for (const t of tickets.values()) await kdestroy(t);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CurlResult {
  status: number;
  /** The last response's headers, names in lower case (a repeated header joined with ", "). */
  headers: Record<string, string>;
  /**
   * Every status line curl saw, in order. With a ticket curl sends its token on the first request (it has one
   * auth method, so it does not wait for a challenge): `[200]`, not `[401, 200]`, for a sign-in.
   */
  statuses: number[];
  body: string;
}

/**
 * Runs real `curl --negotiate -u :` for https?://<host>:PORT/PATH with the host resolved to 127.0.0.1, in the
 * client environment `env` (its ticket, or none). `Accept: text/html` unless headers say otherwise, as a browser
 * navigating does (only that is challenged). A cookie jar file keeps the session across calls.
 */
export async function curlNegotiate(
  env: KerberosClientEnv,
  port: number,
  urlPath: string,
  opts: { host?: string; headers?: Record<string, string>; cookieJar?: string; method?: string; scheme?: 'http' | 'https'; insecure?: boolean } = {},
): Promise<CurlResult> {
  const host = opts.host ?? SERVICE_HOST;
  const dir = await mkdtemp(path.join(tmpdir(), 'sag-curl-'));
  try {
    const headerFile = path.join(dir, 'headers');
    const bodyFile = path.join(dir, 'body');
    const headers = { Accept: 'text/html', ...opts.headers };
    const args = [
      '--silent',
      '--show-error',
      '--negotiate',
      '-u',
      ':',
      '--resolve',
      `${host}:${port}:127.0.0.1`,
      '--dump-header',
      headerFile,
      '--output',
      bodyFile,
      ...(opts.method ? ['--request', opts.method] : []),
      ...(opts.cookieJar ? ['--cookie', opts.cookieJar, '--cookie-jar', opts.cookieJar] : []),
      ...(opts.insecure ? ['--insecure'] : []),
      ...Object.entries(headers).flatMap(([k, v]) => ['--header', `${k}: ${v}`]),
      `${opts.scheme ?? 'http'}://${host}:${port}${urlPath}`,
    ];
    await run('curl', args, { env: { ...process.env, ...env } });
    const raw = await readFile(headerFile, 'utf8');
    // --dump-header writes every response of the exchange, each a status line, headers and a blank line.
    const blocks = raw.split(/\r?\n\r?\n/).filter((b) => /^HTTP\//.test(b));
    const statuses = blocks.map((b) => Number(/^HTTP\/[\d.]+ (\d{3})/.exec(b)?.[1]));
    const last = blocks.at(-1) ?? '';
    const parsed: Record<string, string> = {};
    for (const line of last.split(/\r?\n/).slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      parsed[name] = parsed[name] === undefined ? value : `${parsed[name]}, ${value}`;
    }
    return { status: statuses.at(-1) ?? 0, headers: parsed, statuses, body: await readFile(bodyFile, 'utf8').catch(() => '') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A fresh SPNEGO token from `env`'s ticket for HTTP/<host>, made in this process with the binding's client side. */
export async function spnegoToken(env: KerberosClientEnv, host = SERVICE_HOST): Promise<string> {
  const loaded = await loadKerberosBinding();
  if (!loaded.ok) throw new Error(loaded.why);
  const binding = loaded.binding as unknown as { initializeClient(service: string, opts: { mechOID: number }): Promise<{ step(c: string): Promise<string> }>; GSS_MECH_OID_SPNEGO: number };
  const saved = { KRB5_CONFIG: process.env['KRB5_CONFIG'], KRB5CCNAME: process.env['KRB5CCNAME'] };
  Object.assign(process.env, env);
  try {
    const client = await binding.initializeClient(`HTTP@${host}`, { mechOID: binding.GSS_MECH_OID_SPNEGO });
    return await client.step('');
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
