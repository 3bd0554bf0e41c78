// The drop-in for getsentry/self-hosted (deploy/self-hosted/), in the nginx mode, checked without a Docker engine:
// the override merged by `docker-compose config` over a compose file with self-hosted's real service names, nginx's
// published port and mounts (copied from getsentry/self-hosted's docker-compose.yml), the gateway config it mounts,
// the nginx.conf it mounts with the configuration `nginx-config` generates from that gateway config (nginx -t),
// and the sentry.conf.py lines run by Python against the module snippet they name.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { parse as parseYaml, parseDocument, stringify, type ScalarTag, type CollectionTag } from 'yaml';
import { loadConfig } from '../../src/config/loadConfig.js';
import { nginxConfig } from '../../src/nginx/nginxConfig.js';
import { NetworkList } from '../../src/shared/networks.js';
import { networkOf, trustedOwnNetworks } from '../../src/shared/trustedRanges.js';
import { NGINX } from '../support/nginx.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DROP_IN = join(ROOT, 'deploy/self-hosted');
const PYTHON = '/usr/bin/python3';

/** The parts of self-hosted's docker-compose.yml the override touches or depends on, as self-hosted writes them. */
const SELF_HOSTED = `
x-sentry-defaults: &sentry_defaults
  restart: unless-stopped
  image: sentry-self-hosted-local
  entrypoint: "/etc/sentry/entrypoint.sh"
  command: ["run", "web"]
  environment:
    PYTHONUSERBASE: "/data/custom-packages"
    SENTRY_CONF: "/etc/sentry"
  volumes:
    - "./sentry:/etc/sentry"
services:
  redis:
    image: "redis:6.2.14-alpine"
    healthcheck:
      test: redis-cli ping
  web:
    <<: *sentry_defaults
    healthcheck:
      test: ["CMD", "/bin/bash", "-c", "exit 0"]
  worker:
    <<: *sentry_defaults
    command: run worker
  cron:
    <<: *sentry_defaults
    command: run cron
  relay:
    restart: unless-stopped
    image: "$RELAY_IMAGE"
    depends_on:
      redis: { condition: service_healthy }
      web: { condition: service_healthy }
  nginx:
    restart: unless-stopped
    ports:
      - "$SENTRY_BIND:80/tcp"
    image: "nginx:1.25.4-alpine"
    volumes:
      - type: bind
        read_only: true
        source: ./nginx
        target: /etc/nginx
      - sentry-nginx-cache:/var/cache/nginx
    depends_on:
      - web
      - relay
volumes:
  sentry-nginx-cache:
`;

/** Marks a value tagged `!reset` (Compose 2.24+: drop what the base file says for this key). */
const RESET = Symbol('reset');
const resetTags: (ScalarTag | CollectionTag)[] = [
  { tag: '!reset', collection: 'seq', resolve: () => RESET as never } as unknown as CollectionTag,
  { tag: '!reset', resolve: () => RESET as never } as ScalarTag,
];

type Doc = { services: Record<string, Record<string, unknown>>; [k: string]: unknown };

/**
 * Debian's docker-compose 1.29 predates `!reset`: apply it the way Compose 2.24+ does (the key is dropped from the
 * merged service), then let docker-compose merge and validate everything else.
 */
function applyResets(base: Doc, override: Doc): string[] {
  const reset: string[] = [];
  for (const [name, svc] of Object.entries(override.services)) {
    for (const [key, value] of Object.entries(svc)) {
      if (value !== RESET) continue;
      delete svc[key];
      delete base.services[name]?.[key];
      reset.push(`${name}.${key}`);
    }
  }
  return reset;
}

function composeCommand(): [string, string[]] {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose', []];
  throw new Error('docker-compose is not installed: apt-get install docker-compose');
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, out });
    });
  });
}

type Service = Record<string, unknown> & {
  ports?: { published?: string | number; target?: number }[] | string[];
  secrets?: { source: string }[];
  volumes?: (string | { source?: string; target?: string; read_only?: boolean })[];
  networks?: Record<string, { ipv4_address?: string } | null>;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
};

describe('deploy/self-hosted: the drop-in for getsentry/self-hosted', () => {
  let merged: { services: Record<string, Service>; networks?: Record<string, { ipam?: { config?: { subnet?: string; ip_range?: string }[] } }>; secrets: Record<string, { file?: string }>; volumes: Record<string, unknown> };
  let resets: string[];
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sag-self-hosted-'));
    const base = parseYaml(SELF_HOSTED, { merge: true }) as Doc;
    const override = parseDocument(readFileSync(join(DROP_IN, 'docker-compose.override.yml'), 'utf8'), { customTags: resetTags, merge: true }).toJS() as Doc;
    resets = applyResets(base, override);
    // Quoted: docker-compose reads YAML 1.1, where a bare `no` is false.
    const yaml11 = (d: Doc) => stringify(d, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
    writeFileSync(join(dir, 'docker-compose.yml'), yaml11(base));
    writeFileSync(join(dir, 'docker-compose.override.yml'), yaml11(override));
    mkdirSync(join(dir, 'sentry-ad-gateway/secrets'), { recursive: true });
    copyFileSync(join(DROP_IN, 'gateway.yaml'), join(dir, 'sentry-ad-gateway/gateway.yaml'));
    mkdirSync(join(dir, 'sentry-ad-gateway/nginx'));
    copyFileSync(join(DROP_IN, 'nginx/nginx.conf'), join(dir, 'sentry-ad-gateway/nginx/nginx.conf'));
    mkdirSync(join(dir, 'nginx'));
    for (const s of ['ldap_bind_password', 'session_secret', 'sentry_token', 'metrics_token']) writeFileSync(join(dir, 'sentry-ad-gateway/secrets', s), 'x\n');
    // What the container sees at /run/secrets, for loading gateway.yaml here as the gateway would there.
    mkdirSync(join(dir, 'run-secrets'));
    for (const s of ['sag_ldap_bind_password', 'sag_session_secret', 'sag_sentry_token', 'sag_metrics_token']) writeFileSync(join(dir, 'run-secrets', s), 'x\n', { mode: 0o600 });
    writeFileSync(join(dir, 'gateway-here.yaml'), readFileSync(join(DROP_IN, 'gateway.yaml'), 'utf8').replaceAll('/run/secrets/', `${join(dir, 'run-secrets')}/`));
    const [cmd] = composeCommand();
    // self-hosted's .env sets these; SENTRY_AD_GATEWAY_PUBLIC_URL is the one line the drop-in adds to .env.custom.
    const env = { ...process.env, SENTRY_BIND: '9000', RELAY_IMAGE: 'getsentry/relay:nightly', SENTRY_AD_GATEWAY_PUBLIC_URL: 'https://sentry.example.com' };
    const r = await run(cmd, ['config'], dir, env);
    assert.equal(r.code, 0, `docker-compose config failed:\n${r.out}`);
    merged = parseYaml(r.out) as typeof merged;
  });

  test("nginx keeps $SENTRY_BIND and is the only service that publishes a port: the gateway is reached through it", () => {
    assert.deepEqual(resets, []);
    const published = Object.entries(merged.services).filter(([, s]) => s.ports?.length).map(([n]) => n);
    assert.deepEqual(published, ['nginx'], 'only nginx publishes a port');
    const port = merged.services['nginx']!.ports![0] as { published?: string | number; target?: number } | string;
    assert.match(typeof port === 'string' ? port : `${port.published}:${port.target}`, /^9000:80/);
  });

  test("nginx runs the drop-in's nginx.conf over self-hosted's, with the generated configuration beside it, and waits for the gateway", () => {
    const ng = merged.services['nginx']!;
    type Mount = { source?: string; target?: string; read_only?: boolean };
    const mounts = new Map<string | undefined, Mount>((ng.volumes ?? []).map((v): [string | undefined, Mount] => (typeof v === 'string' ? [v.split(':')[1], { source: v.split(':')[0] }] : [v.target, v])));
    const conf = mounts.get('/etc/nginx/nginx.conf');
    assert.ok(conf, [...mounts.keys()].join(', '));
    assert.equal(conf.source, join(dir, 'sentry-ad-gateway/nginx/nginx.conf'));
    assert.equal(conf.read_only, true);
    assert.ok(mounts.has('/etc/nginx'), "self-hosted's own ./nginx stays mounted");
    const generated = mounts.get('/etc/sentry-ad-gateway-nginx');
    assert.equal(generated?.source, join(dir, 'sentry-ad-gateway/nginx'));
    assert.match(readFileSync(join(DROP_IN, 'nginx/nginx.conf'), 'utf8'), /include \/etc\/sentry-ad-gateway-nginx\/sentry-ad-gateway\.conf;/);
    assert.equal((ng['depends_on'] as Record<string, { condition: string }>)['sentry-ad-gateway']?.condition, 'service_healthy');
  });

  test("the gateway trusts exactly nginx's fixed address, and answers decisions only in the nginx mode", () => {
    const subnet = merged.networks?.['default']?.ipam?.config?.[0]?.subnet;
    const address = merged.services['nginx']!.networks?.['default']?.ipv4_address;
    assert.ok(subnet && address, 'nginx has a fixed address on the fixed subnet');
    assert.ok(new NetworkList([subnet]).match(address), `${address} is in ${subnet}`);
    assert.notEqual(address, networkOf(subnet)!.first.replace(/\.0$/, '.1'), "not the bridge's address");
    // Docker gives other containers addresses from ip_range only: nginx's address outside it is nginx's alone.
    const range = merged.networks?.['default']?.ipam?.config?.[0]?.ip_range;
    assert.ok(range, 'the subnet has an ip_range for the addresses Docker hands out');
    assert.ok(new NetworkList([subnet]).match(networkOf(range)!.first) && new NetworkList([subnet]).match(networkOf(range)!.last), `${range} is inside ${subnet}`);
    assert.ok(!new NetworkList([range]).match(address), `${address} is outside ${range}, so Docker never hands it to another container`);
    const config = loadConfig({ file: join(dir, 'gateway-here.yaml'), env: {} });
    assert.ok(config.ok);
    assert.equal(config.config.server.trustProxy, address);
    assert.equal(config.config.nginx.enabled, true);
    assert.equal(config.config.nginx.gatewayUrl, 'http://sentry-ad-gateway:8080');
    assert.equal(new URL(config.config.nginx.gatewayUrl).port, config.config.server.listen.split(':').at(-1));
  });

  test("nginx accepts the drop-in's nginx.conf with the configuration generated from gateway.yaml", async () => {
    const config = loadConfig({ file: join(dir, 'gateway-here.yaml'), env: {} });
    assert.ok(config.ok);
    const t = mkdtempSync(join(dir, 'nginx-t-'));
    // nginx -t resolves upstream names and opens its logs: the compose names become addresses, the paths local ones.
    const generated = nginxConfig(config.config).replace(/server (web|relay|sentry-ad-gateway):/g, 'server 127.0.0.1:');
    writeFileSync(join(t, 'sentry-ad-gateway.conf'), generated);
    const main = readFileSync(join(DROP_IN, 'nginx/nginx.conf'), 'utf8')
      .replace(/^user nginx;$/m, '')
      .replace('/var/run/nginx.pid', join(t, 'nginx.pid'))
      .replaceAll('/var/log/nginx/', `${t}/`)
      .replace('/etc/sentry-ad-gateway-nginx/', `${t}/`);
    writeFileSync(join(t, 'nginx.conf'), main);
    const r = spawnSync(NGINX, ['-t', '-p', t, '-c', join(t, 'nginx.conf')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  test('the gateway waits for web, reaches web and Relay directly, and keeps sessions in a Redis of its own', () => {
    const gw = merged.services['sentry-ad-gateway']!;
    assert.equal(gw.depends_on?.['web']?.condition, 'service_healthy');
    assert.ok(gw.depends_on?.['sentry-ad-gateway-redis']);
    assert.equal(gw['read_only'], true);
    assert.deepEqual(gw['cap_drop'], ['ALL']);
    const config = loadConfig({ file: join(dir, 'gateway-here.yaml'), env: {} });
    assert.ok(config.ok, config.ok ? '' : config.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
    assert.equal(config.config.upstream.url, 'http://web:9000');
    assert.equal(config.config.upstream.ingestUrl, 'http://relay:3000');
    assert.equal(new URL(config.config.session.redisUrl).hostname, 'sentry-ad-gateway-redis');
    assert.ok(merged.services['sentry-ad-gateway-redis'], 'its Redis is a service of the project');
    assert.ok(config.config.server.metricsListen, 'metrics on their own listener');
    assert.equal(merged.services['sentry-ad-gateway-redis']!.ports, undefined);
  });

  test("the project's network has a fixed subnet, and gateway.yaml trusts no range in it, docker-proxy's bridge above all", () => {
    const subnet = merged.networks?.['default']?.ipam?.config?.[0]?.subnet;
    assert.ok(subnet, 'the default network has a fixed subnet');
    const net = networkOf(subnet);
    assert.ok(net && net.family === 'ipv4', subnet);
    // The gateway's own interface on that network, as os.networkInterfaces() shows it inside the container.
    const address = net.first.replace(/\.0$/, '.5');
    const iface = { eth0: [{ address, netmask: '255.255.255.0', family: 'IPv4' as const, mac: '02:42:00:00:00:05', internal: false, cidr: `${address}/${subnet.split('/')[1]}` }] };
    const config = loadConfig({ file: join(dir, 'gateway-here.yaml'), env: {}, interfaces: iface });
    assert.ok(config.ok);
    const trustProxy = config.config.server.trustProxy;
    assert.equal(typeof trustProxy, 'string', 'an address list, never true or a hop count');
    for (const entry of String(trustProxy).split(',').map((e) => e.trim())) {
      assert.ok(entry === 'loopback' || networkOf(entry)?.first === networkOf(entry)?.last, `"${entry}" is one address, not a range`);
    }
    assert.deepEqual(trustedOwnNetworks(trustProxy, iface), []);
    assert.deepEqual(config.warnings.filter((w) => w.startsWith('server.trustProxy')), [], 'check-config stays quiet on the example');
  });

  test('secrets are files, and the paths in gateway.yaml are where compose mounts them', () => {
    const gw = merged.services['sentry-ad-gateway']!;
    const sources = (gw.secrets ?? []).map((s) => s.source).sort();
    assert.deepEqual(sources, ['sag_ldap_bind_password', 'sag_metrics_token', 'sag_sentry_token', 'sag_session_secret']);
    for (const s of sources) assert.ok(merged.secrets[s]?.file, `${s} comes from a file`);
    const config = loadConfig({ file: join(dir, 'gateway-here.yaml'), env: {} });
    assert.ok(config.ok);
    const files = [config.config.ldap.bindPasswordFile, config.config.session.secretFile, config.config.sentry.tokenFile, config.config.server.metricsTokenFile].map((f) => f?.replace(`${join(dir, 'run-secrets')}/`, '/run/secrets/'));
    assert.deepEqual(files.sort(), sources.map((s) => `/run/secrets/${s}`).sort());
    const mounts = (gw.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
    assert.ok(mounts.some((m) => m.endsWith(':/etc/sentry-ad-gateway/gateway.yaml') || m.includes(':/etc/sentry-ad-gateway/gateway.yaml:')), mounts.join('\n'));
  });

  test("Sentry's web service gets the gateway's issuer and JWKS URL, and keeps its own settings", () => {
    const env = merged.services['web']!.environment!;
    assert.equal(env['SENTRY_AD_GATEWAY_ISSUER'], 'https://sentry.example.com');
    assert.equal(env['SENTRY_AD_GATEWAY_JWKS_URL'], 'http://sentry-ad-gateway:8080/_gateway/jwks.json');
    assert.equal(env['SENTRY_CONF'], '/etc/sentry', "self-hosted's own environment survives the merge");
  });

  test('config.yml lines set system.url-prefix and turn off sign-up', () => {
    const lines = parseYaml(readFileSync(join(DROP_IN, 'config.yml.append'), 'utf8')) as Record<string, unknown>;
    assert.equal(lines['system.url-prefix'], 'https://sentry.example.com');
    assert.equal(lines['auth.allow-registration'], false);
  });

  test("sentry.conf.py lines run the module's snippet file: the middleware lands right after Sentry's authentication", async () => {
    assert.ok(existsSync(PYTHON), `${PYTHON} is missing`);
    const append = readFileSync(join(DROP_IN, 'sentry.conf.py.append'), 'utf8');
    const snippetPath = /_sag_snippet = "([^"]+)"/.exec(append)?.[1];
    assert.equal(snippetPath, '/etc/sentry/sentry_ad_gateway.conf.py');
    // Where docs/deploying.md says the snippet is copied from; run against the repository's copy.
    const local = append.replace(snippetPath!, join(ROOT, 'config/sentry/sentry.conf.snippet.py'));
    const script = [
      'MIDDLEWARE = ("django.middleware.common.CommonMiddleware", "sentry.middleware.auth.AuthenticationMiddleware", "sentry.middleware.sudo.SudoMiddleware")',
      'SENTRY_FEATURES = {"auth:register": True}',
      local,
      'import json',
      'print(json.dumps({"middleware": list(MIDDLEWARE), "register": SENTRY_FEATURES["auth:register"], "issuer": SENTRY_AD_GATEWAY["ISSUER"]}))',
    ].join('\n');
    const r = await run(PYTHON, ['-B', '-c', script], ROOT, { ...process.env, SENTRY_AD_GATEWAY_ISSUER: 'https://sentry.example.com' });
    assert.equal(r.code, 0, r.out);
    const got = JSON.parse(r.out.trim().split('\n').at(-1)!) as { middleware: string[]; register: boolean; issuer: string };
    assert.deepEqual(got.middleware.slice(1, 3), ['sentry.middleware.auth.AuthenticationMiddleware', 'sentry_ad_gateway_auth.GatewayAssertionMiddleware']);
    assert.equal(got.register, false);
    assert.equal(got.issuer, 'https://sentry.example.com');
  });
});
