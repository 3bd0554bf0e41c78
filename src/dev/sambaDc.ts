// Starts a throwaway Samba AD DC with the fixture directory, for integration tests and the demo.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ADMIN_PASSWORD, SERVICE_ACCOUNT } from './fixtures.js';
import { portInUse } from './serverProcess.js';

/** Whether another process holds the DC's fixed ports (asked once samba has exited: another server, or its own workers not gone yet). */
async function portsHeld(): Promise<boolean> {
  return (await portInUse(636)) || (await portInUse(389));
}

const run = promisify(execFile);

export interface SambaDcInfo {
  dir: string;
  realm: string;
  netbios: 'CORP';
  baseDn: string;
  ldapsUrl: string;
  ldapUrl: string;
  /** CA that signed the DC's certificate (Samba generates both on first start). */
  caFile: string;
  /** The name in the DC's certificate: connect to 127.0.0.1 and verify against this. */
  serverName: string;
  adminDn: string;
  adminPassword: string;
  serviceDn: string;
  /** File holding the service account's password, as `ldap.bindPasswordFile` expects. */
  servicePasswordFile: string;
  smbConf: string;
  /** Process group id of the DC, so a test runner can clean up after a crash. */
  pid: number;
}

export interface SambaDc extends SambaDcInfo {
  /** Runs `samba-tool ARGS -s smb.conf` against the DC's database; resolves with stdout. */
  samba(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface StartSambaDcOptions {
  /** Where to provision; a fresh temp dir by default. A dir already provisioned is reused as is. */
  dir?: string;
  log?: (line: string) => void;
  /** How long to wait for LDAPS after starting samba, in ms (default 60 000). */
  readyTimeoutMs?: number;
}

const REALM = 'CORP.EXAMPLE.COM';
const BASE_DN = 'DC=corp,DC=example,DC=com';
// Samba writes its certificate for the DC's FQDN (CN only, no subjectAltName).
const SERVER_NAME = 'dc1.corp.example.com';
const READY_MARKER = '.fixtures-loaded';

function scriptsDir(): string {
  // Walk up rather than hard-code a depth, so this works from src/ and from a build output dir.
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(d, 'scripts', 'dev-dc');
    if (existsSync(path.join(candidate, 'provision.sh'))) return candidate;
    const parent = path.dirname(d);
    if (parent === d) throw new Error('scripts/dev-dc not found above ' + fileURLToPath(import.meta.url));
    d = parent;
  }
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === 'EADDRINUSE'
            ? `port ${port} on 127.0.0.1 is already in use: another DC is probably running (only one can run at a time)`
            : `cannot check port ${port}: ${e.message}`,
        ),
      ),
    );
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
  });
}

function tryTls(caFile: string): Promise<boolean> {
  return readFile(caFile).then(
    (ca) =>
      new Promise<boolean>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port: 636, ca, servername: SERVER_NAME, checkServerIdentity: (_h, cert) => tls.checkServerIdentity(SERVER_NAME, cert) }, () => {
          s.end();
          resolve(true);
        });
        s.setTimeout(2000, () => s.destroy());
        s.once('error', () => resolve(false));
        s.once('close', () => resolve(false));
      }),
    () => false,
  );
}

export async function startSambaDc(opts: StartSambaDcOptions = {}): Promise<SambaDc> {
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  await assertPortFree(636);
  await assertPortFree(389);

  const dir = opts.dir ? path.resolve(opts.dir) : await mkdtemp(path.join(os.tmpdir(), 'sag-dc-'));
  const scripts = scriptsDir();
  const smbConf = path.join(dir, 'etc', 'smb.conf');
  const caFile = path.join(dir, 'private', 'tls', 'ca.pem');
  const servicePasswordFile = path.join(dir, 'svc-sentry.password');
  const fresh = !existsSync(path.join(dir, READY_MARKER));

  if (fresh) {
    if (existsSync(smbConf)) throw new Error(`${dir} holds a half-provisioned DC: remove it and start again`);
    await run(path.join(scripts, 'provision.sh'), [dir, ADMIN_PASSWORD]);
    log(`provisioned in ${Date.now() - t0} ms`);
  }

  // A process group of its own, so stop() reaches samba's forked workers too.
  const child: ChildProcess = spawn('samba', ['-s', smbConf, '-i', '--debug-stdout'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 50) output.shift();
      log(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  let how = '';
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      how = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    }),
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start samba');

  const stop = async () => {
    if (exited) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    const killer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 5000);
    await exitedPromise;
    clearTimeout(killer);
    // Workers may outlive the root process by a moment and still hold the ports.
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(-pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  try {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    while (!(await tryTls(caFile))) {
      if (exited) throw new Error(`samba exited during start with ${how}${(await portsHeld()) ? '; port 636 or 389 is still in use' : ''}:\n` + output.join('\n'));
      if (Date.now() > deadline) throw new Error(`samba did not serve LDAPS within ${opts.readyTimeoutMs ?? 60_000} ms (still running, pid ${pid}):\n` + output.join('\n'));
      await new Promise((r) => setTimeout(r, 150));
    }
    log(`LDAPS ready after ${Date.now() - t0} ms`);

    if (fresh) {
      await run(path.join(scripts, 'load-fixtures.sh'), ['ldaps://127.0.0.1:636', ADMIN_PASSWORD, caFile], {
        // The certificate names the FQDN, which need not resolve here, and the OpenLDAP tools
        // cannot verify against a name other than the host they dial; loopback only, so skip it.
        env: { ...process.env, LDAPTLS_REQCERT: 'never' },
      }).catch((e: { stderr?: string; message: string }) => {
        throw new Error('loading fixtures failed: ' + (e.stderr || e.message));
      });
      await writeFile(servicePasswordFile, SERVICE_ACCOUNT.password + '\n', { mode: 0o600 });
      await writeFile(path.join(dir, READY_MARKER), new Date().toISOString() + '\n');
      log(`fixtures loaded after ${Date.now() - t0} ms`);
    }
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    dir,
    realm: REALM,
    netbios: 'CORP',
    baseDn: BASE_DN,
    ldapsUrl: 'ldaps://127.0.0.1:636',
    ldapUrl: 'ldap://127.0.0.1:389',
    caFile,
    serverName: SERVER_NAME,
    adminDn: `CN=Administrator,CN=Users,${BASE_DN}`,
    adminPassword: ADMIN_PASSWORD,
    serviceDn: SERVICE_ACCOUNT.dn,
    servicePasswordFile,
    smbConf,
    pid,
    samba: (args) => runSambaTool(smbConf, args),
    stop,
  };
}

export async function runSambaTool(smbConf: string, args: string[]): Promise<string> {
  const { stdout } = await run('samba-tool', [...args, '-s', smbConf], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** The serialisable part of a running DC, as test runners pass it on in SAG_TEST_DC. */
export function describeSambaDc(dc: SambaDc): SambaDcInfo {
  const { samba: _s, stop: _t, ...info } = dc;
  return info;
}

// CLI: `npx tsx src/dev/sambaDc.ts [DIR]` prints the DC's JSON and runs until SIGTERM/SIGINT.
// `--remove` deletes DIR on exit.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const remove = args.includes('--remove');
  const dirArg = args.find((a) => !a.startsWith('--'));
  const verbose = args.includes('--verbose');
  startSambaDc({ ...(dirArg ? { dir: dirArg } : {}), log: (l) => verbose && process.stderr.write(l + '\n') }).then(
    (dc) => {
      process.stdout.write(JSON.stringify(describeSambaDc(dc)) + '\n');
      const shutdown = () => {
        void dc.stop().then(async () => {
          if (remove) await rm(dc.dir, { recursive: true, force: true });
          process.exit(0);
        });
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    },
    (e: Error) => {
      process.stderr.write(e.message + '\n');
      process.exit(1);
    },
  );
}
