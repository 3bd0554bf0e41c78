// Deployment artefacts, checked without a Docker engine: the Sentry-side Python module's suite, the
// compose file through `docker-compose config`, and the Dockerfile replayed step by step.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { writeDevConfig } from '../../src/dev/devConfig.js';
import { testDc } from '../support/dc.js';
import { testRedisUrl } from '../support/gateway.js';

const ROOT = resolve(import.meta.dirname, '../..');
// Debian's interpreter: another python3 earlier on PATH cannot see python3-django/-jwt/-cryptography.
const PYTHON = '/usr/bin/python3';

interface Run {
  code: number | null;
  out: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, out });
    });
  });
}

describe('Sentry-side module (config/sentry)', () => {
  test('its Python test suite passes under Debian python3 with python3-django, -jwt and -cryptography', async () => {
    assert.ok(existsSync(PYTHON), `${PYTHON} is missing: apt-get install python3 python3-django python3-jwt python3-cryptography`);
    const r = await run(PYTHON, ['-B', '-m', 'unittest', 'discover', '-s', 'config/sentry', '-v']);
    const ran = /^Ran (\d+) tests? in/m.exec(r.out);
    assert.equal(r.code, 0, `python unittest failed (python3-django python3-jwt python3-cryptography installed?):\n${r.out.slice(-4000)}`);
    assert.ok(ran && Number(ran[1]) >= 50, `expected the whole suite to run:\n${r.out.slice(-2000)}`);
    assert.match(r.out, /^OK\b/m);
  });
});

/** `docker-compose config` (Debian's package) or, failing that, `docker compose config`; neither needs an engine. */
function composeCommand(): [string, string[]] {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose', ['config']];
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', ['compose', 'config']];
  throw new Error('neither docker-compose nor the docker compose plugin is installed: apt-get install docker-compose');
}

type Service = Record<string, unknown> & {
  build?: { context: string; dockerfile?: string };
  secrets?: { source: string }[];
  healthcheck?: { test?: string[]; disable?: boolean };
  volumes?: string[];
  environment?: Record<string, string>;
};

describe('docker-compose.yml', () => {
  let doc: { services: Record<string, Service>; secrets: Record<string, { file?: string }>; volumes: Record<string, unknown> };

  before(async () => {
    const [cmd, args] = composeCommand();
    const r = await run(cmd, args);
    assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed:\n${r.out}`);
    doc = parseYaml(r.out) as typeof doc;
  });

  test('has the gateway, Redis, the dev DC and the stand-in Sentry', () => {
    assert.deepEqual(Object.keys(doc.services).sort(), ['dc', 'gateway', 'redis', 'sentry']);
  });

  test('secrets are files mounted as compose secrets, never environment values', () => {
    for (const [name, s] of Object.entries(doc.secrets)) assert.ok(s.file, `secret ${name} must come from a file`);
    const gateway = doc.services.gateway!;
    assert.deepEqual((gateway.secrets ?? []).map((s) => s.source).sort(), ['ldap_bind_password', 'sentry_token', 'session_secret']);
    assert.deepEqual((doc.services.dc!.secrets ?? []).map((s) => s.source), ['dc_admin_password']);
    const config = parseYaml(readFileSync(join(ROOT, 'docker/gateway.compose.yaml'), 'utf8')) as Record<string, Record<string, string>>;
    assert.equal(config.ldap!.bindPasswordFile, '/run/secrets/ldap_bind_password');
    assert.equal(config.session!.secretFile, '/run/secrets/session_secret');
    assert.equal(config.sentry!.tokenFile, '/run/secrets/sentry_token');
    for (const [name, svc] of Object.entries(doc.services)) {
      for (const key of Object.keys(svc.environment ?? {})) assert.doesNotMatch(key, /PASSWORD|SECRET|TOKEN/i, `${name}: ${key} in the environment`);
    }
  });

  test('the gateway is hardened, health-checked, and keeps only its keys on a volume', () => {
    const gateway = doc.services.gateway!;
    assert.equal(gateway.read_only, true);
    assert.deepEqual(gateway.cap_drop, ['ALL']);
    assert.ok(gateway.healthcheck?.test?.includes('docker/healthcheck.mjs'), 'healthcheck runs the probe');
    assert.ok(gateway.volumes?.some((v) => v.startsWith('gateway-keys:/var/lib/sentry-ad-gateway/keys')));
    assert.equal(doc.services.sentry!.read_only, true);
  });

  test('the dev DC is built from the provisioning scripts the tests use', () => {
    assert.equal(doc.services.dc!.build?.dockerfile, 'docker/dev-dc.Dockerfile');
    const dockerfile = readFileSync(join(ROOT, 'docker/dev-dc.Dockerfile'), 'utf8');
    assert.match(dockerfile, /COPY scripts\/dev-dc\/ \/opt\/dev-dc\//);
    const entry = readFileSync(join(ROOT, 'docker/dev-dc-entry.sh'), 'utf8');
    assert.match(entry, /\/opt\/dev-dc\/provision\.sh "\$dir" "\$pass"/);
    assert.match(entry, /exec \/opt\/dev-dc\/run\.sh "\$dir" "\$pass"/);
  });
});

/** One Dockerfile stage replayed in a directory: WORKDIR /app is the directory, absolute paths go under root/. */
interface Stage {
  name: string;
  dir: string;
  /** ENV set in the stage (and the stage it is FROM), passed to its RUN steps. */
  env: Record<string, string>;
  /** Debian packages its apt-get steps install. */
  packages: string[];
  user?: string;
  entrypoint?: string[];
  healthcheck?: string;
  image: string;
}

describe('Dockerfile, replayed without Docker', () => {
  let work: string;
  const stages: Stage[] = [];
  let final: Stage;
  const runLines: string[] = [];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'sag-docker-'));
    const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const args: Record<string, string> = {};
    let stage: Stage | undefined;
    const inStage = (s: Stage, p: string) => (p.startsWith('/') ? (p.startsWith('/app') ? join(s.dir, p.slice(4)) : join(s.dir, 'root', p)) : join(s.dir, p));
    for (const line of lines) {
      const [instr, ...rest] = line.split(/\s+/);
      const argsText = line.slice(instr!.length).trim();
      switch (instr) {
        case 'ARG': {
          const [k, v] = argsText.split('=');
          args[k!] = v ?? '';
          break;
        }
        case 'FROM': {
          const image = rest[0]!.replace(/\$\{(\w+)\}/g, (_m, k: string) => args[k] ?? '');
          const name = rest[2] ?? 'final';
          // FROM an earlier stage: its image, ENV and packages (its files stay its own: none are used that way).
          const base = stages.find((s) => s.name === image);
          stage = { name, dir: join(work, name), image: base?.image ?? image, env: { ...base?.env }, packages: [...(base?.packages ?? [])] };
          mkdirSync(stage.dir, { recursive: true });
          stages.push(stage);
          break;
        }
        case 'WORKDIR':
          assert.equal(argsText, '/app', 'the replay maps WORKDIR /app to each stage directory');
          break;
        case 'COPY': {
          const parts = rest.filter((p) => !p.startsWith('--chown='));
          const fromName = parts[0]!.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : undefined;
          const from = fromName === undefined ? undefined : stages.find((s) => s.name === fromName);
          if (fromName !== undefined) assert.ok(from, `COPY --from=${fromName}: no such stage`);
          const dest = parts.pop()!;
          for (const src of parts) {
            const source = from ? inStage(from, src) : join(ROOT, src);
            const target = dest.endsWith('/') ? join(inStage(stage!, dest), src.endsWith('/') ? '' : src.split('/').pop()!) : inStage(stage!, dest);
            cpSync(source, target, { recursive: true });
          }
          break;
        }
        case 'RUN': {
          runLines.push(argsText);
          if (argsText.startsWith('apt-get ')) {
            // Not run here: the packages must be what CI installed on this machine (scripts/bootstrap.sh, .ci/run).
            const install = /apt-get install ((?:-\S+ )*)([^&]+)/.exec(argsText);
            assert.ok(install, `an apt-get step installs packages: ${argsText}`);
            const pkgs = install[2]!.trim().split(/\s+/);
            for (const pkg of pkgs) {
              const q = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
              assert.equal(q.stdout, 'install ok installed', `${stage!.name}: ${pkg} is not installed here (the image needs it): apt-get install ${pkg}`);
            }
            stage!.packages.push(...pkgs);
            break;
          }
          assert.match(argsText, /^npm (ci|run) /, `every RUN is an npm command CI also runs: ${argsText}`);
          // --prefer-offline: from the npm cache this machine's own install filled, so a registry that cannot be
          // reached (a test network namespace has no DNS) cannot make npm skip the optional Kerberos binding.
          const r = await run('sh', ['-c', `${argsText} --loglevel=error --prefer-offline`], { cwd: stage!.dir, env: { ...process.env, ...stage!.env }, timeoutMs: 300_000 });
          assert.equal(r.code, 0, `${stage!.name}: RUN ${argsText} failed:\n${r.out}`);
          break;
        }
        case 'USER':
          stage!.user = argsText;
          break;
        case 'ENTRYPOINT':
          stage!.entrypoint = JSON.parse(argsText) as string[];
          break;
        case 'HEALTHCHECK':
          stage!.healthcheck = argsText;
          break;
        case 'ENV': {
          const eq = argsText.indexOf('=');
          assert.ok(eq > 0, `ENV NAME=value: ${argsText}`);
          stage!.env[argsText.slice(0, eq)] = argsText.slice(eq + 1);
          break;
        }
        default:
          assert.ok(['EXPOSE', 'VOLUME', 'CMD'].includes(instr!), `the replay does not know ${instr}`);
      }
    }
    final = stages.at(-1)!;
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('multi-stage on Node 24 LTS, its RUN steps are the build CI runs', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const s of stages) assert.match(s.image, /^node:24[-.]/, `pin the Node 24 LTS major: ${s.image}`);
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const line of runLines) {
      const script = /^npm run (\S+)/.exec(line)?.[1];
      if (script) assert.ok(scripts[script], `package.json has the "${script}" script`);
    }
    assert.ok(runLines.some((l) => l.startsWith('npm ci --omit=dev')), 'production dependencies installed on their own');
  });

  test('the runtime is non-root, production-only, and health-checks /_gateway/healthz', () => {
    assert.ok(final.user && final.user !== 'root' && final.user !== '0', 'USER is not root');
    assert.ok(existsSync(join(final.dir, 'node_modules/jose')));
    assert.ok(!existsSync(join(final.dir, 'node_modules/typescript')), 'no dev dependencies in the runtime');
    assert.ok(!existsSync(join(final.dir, 'node_modules/tsx')), 'no dev dependencies in the runtime');
    assert.ok(!existsSync(join(final.dir, 'src')), 'no source in the runtime');
    assert.ok(existsSync(join(final.dir, 'root/var/lib/sentry-ad-gateway/keys')), 'the keys directory exists in the image');
    // The Kerberos binding, built from source in the deps stage, with the library it links to in the runtime.
    assert.equal(stages.find((s) => s.name === 'deps')!.env['npm_config_build_from_source'], 'true');
    assert.ok(existsSync(join(final.dir, 'node_modules/kerberos/build/Release/kerberos.node')), 'the Kerberos binding is built');
    assert.ok(final.packages.includes('libgssapi-krb5-2'), 'the runtime has the GSSAPI library');
    assert.ok(!final.packages.some((p) => /-dev$|^g\+\+$|^make$/.test(p)), 'no compiler or headers in the runtime');
    assert.match(final.healthcheck ?? '', /docker\/healthcheck\.mjs/);
    assert.match(readFileSync(join(ROOT, 'docker/healthcheck.mjs'), 'utf8'), /\/_gateway\/healthz/);
  });

  test('the built CLI runs with production dependencies only', async () => {
    const r = await run('node', [...final.entrypoint!.slice(1), '--help'], { cwd: final.dir });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /usage: sentry-ad-gateway/);
    const k = await run('node', ['--input-type=module', '-e', "const m = await import('kerberos'); console.log(typeof m.initializeServer)"], { cwd: final.dir });
    assert.equal(k.out.trim(), 'function', `the Kerberos binding loads in the runtime: ${k.out}`);
  });

  test('the compose gateway config is valid for this build', async () => {
    const secrets = join(work, 'secrets');
    mkdirSync(secrets);
    for (const f of ['ldap_bind_password', 'session_secret', 'sentry_token', 'ca.pem']) writeFileSync(join(secrets, f), 'x\n');
    const text = readFileSync(join(ROOT, 'docker/gateway.compose.yaml'), 'utf8').replaceAll('/run/secrets/', `${secrets}/`).replaceAll('/run/dev-dc-ca/', `${secrets}/`);
    const file = join(work, 'gateway.compose.yaml');
    writeFileSync(file, text);
    const r = await run('node', ['dist/cli.js', 'check-config', '--config', file], { cwd: final.dir, env: cleanEnv() });
    assert.equal(r.code, 0, r.out);
  });

  test('the built gateway serves /_gateway/healthz and the JWKS, writing only to its keys directory', async () => {
    const dir = join(work, 'serve');
    const keysDir = join(dir, 'keys');
    const { file } = writeDevConfig({
      dir,
      dc: testDc(),
      redisUrl: testRedisUrl(),
      upstreamUrl: 'http://127.0.0.1:9',
      listen: '127.0.0.1:0',
      publicUrl: 'http://127.0.0.1:8080',
      overrides: { assertion: { keysDir } },
    });
    const port = await freePort();
    const child = spawn('node', [...final.entrypoint!.slice(1), 'serve', '--config', file], {
      cwd: final.dir,
      env: { ...cleanEnv(), SAG_SERVER__LISTEN: `127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${base}/_gateway/healthz`)).status === 200, () => out);
      const probe = await run('node', ['docker/healthcheck.mjs'], { cwd: final.dir, env: { ...cleanEnv(), SAG_SERVER__LISTEN: `127.0.0.1:${port}` } });
      assert.equal(probe.code, 0, `HEALTHCHECK probe: ${probe.out}`);
      const jwks = (await (await fetch(`${base}/_gateway/jwks.json`)).json()) as { keys: { kid: string; alg: string }[] };
      assert.ok(jwks.keys.length >= 1 && jwks.keys.every((k) => k.kid && ['ES256', 'EdDSA'].includes(k.alg)));
      // The JWKS, as served, is what the Sentry-side module loads: no key may be skipped.
      const py = await run(PYTHON, [
        '-B',
        '-c',
        'import sys; sys.path.insert(0, "config/sentry"); import fake_sentry_env as e; e.setup_django(); import sentry_ad_gateway_auth as g; ' +
          's = g.JwksKeySource(sys.argv[1], 300, 10, 5); [s.keys_for(k) for k in sys.argv[2:]]; print("ok")',
        `${base}/_gateway/jwks.json`,
        ...jwks.keys.map((k) => k.kid),
      ]);
      assert.equal(py.code, 0, py.out);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
    const probeDown = await run('node', ['docker/healthcheck.mjs'], { cwd: final.dir, env: { ...cleanEnv(), SAG_SERVER__LISTEN: `127.0.0.1:${port}` } });
    assert.equal(probeDown.code, 1, 'the probe fails once the gateway is gone');
  });

  test('the stand-in Sentry entry runs from the image and rejects a request without an assertion', async () => {
    const port = await freePort();
    const child = spawn('node', ['docker/standInSentry.mjs'], {
      cwd: final.dir,
      env: { ...cleanEnv(), PORT: String(port), HOST: '127.0.0.1', JWKS_URL: 'http://127.0.0.1:9/_gateway/jwks.json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    try {
      await waitFor(() => Promise.resolve(out.includes('stand-in Sentry on')), () => out);
      const body = (await (await fetch(`http://127.0.0.1:${port}/organizations/acme/`)).json()) as { error?: string };
      assert.match(body.error ?? '', /no assertion header/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
  });
});

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SAG_')));
}

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => r(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, output: () => string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out; process output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
