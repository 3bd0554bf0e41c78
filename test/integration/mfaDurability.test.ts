// With a second factor on, `serve` and `check-config --connect` refuse a Redis that may lose factors, naming the setting.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { writeDevConfig } from '../../src/dev/devConfig.js';
import { startRedisServer, type RedisServer } from '../../src/dev/redisServer.js';
import { MFA_PEOPLE_KEY } from '../../src/mfa/factorStore.js';
import { redisDurabilityProblems } from '../../src/mfa/redisDurability.js';
import { runCli } from '../support/cli.js';
import { testDc } from '../support/dc.js';

let dir: string;
let keyFile: string;
const servers: RedisServer[] = [];
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sag-test-mfa-durability-'));
  keyFile = join(dir, 'mfa_key');
  writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
});
after(async () => {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function redisWith(args?: string[]): Promise<RedisServer> {
  const s = await startRedisServer(args ? { args } : {});
  servers.push(s);
  return s;
}

function configFor(redisUrl: string, mfa: Record<string, unknown> = { require: 'always' }): string {
  return writeDevConfig({
    dir: join(dir, randomUUID()),
    dc: testDc(),
    redisUrl,
    upstreamUrl: 'http://127.0.0.1:9',
    listen: '127.0.0.1:0',
    publicUrl: 'http://localhost:8080',
    overrides: { mfa: { keyFile, ...mfa } },
  }).file;
}

describe('serve refuses a Redis that may lose factors', () => {
  test('no persistence (appendonly no, save ""): exit 1 naming appendonly', async () => {
    const r = await runCli(['serve', '--config', configFor((await redisWith()).url)], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /refusing to start: .*appendonly no, save ""/);
  });

  test('AOF on but keys evictable (allkeys-lru): exit 1 naming maxmemory-policy', async () => {
    const s = await redisWith(['--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'allkeys-lru']);
    const r = await runCli(['serve', '--config', configFor(s.url, { requireForGroups: ['Sentry Admins'] })], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /maxmemory-policy allkeys-lru/);
    assert.doesNotMatch(r.stderr, /appendonly/);
  });

  test('CONFIG renamed away: read from INFO; AOF off is refused (save rules cannot be read), AOF on with noeviction passes', async () => {
    const hidden = await redisWith(['--save', '900 1', '--appendonly', 'no', '--rename-command', 'CONFIG', '']);
    const r = await runCli(['serve', '--config', configFor(hidden.url)], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /appendonly off and its save rules cannot be read/);

    const aof = await redisWith(['--save', '', '--appendonly', 'yes', '--rename-command', 'CONFIG', '']);
    const client = new Redis(aof.url);
    try {
      assert.deepEqual(await redisDurabilityProblems(client), []);
    } finally {
      client.disconnect();
    }
  });

  test('RDB save rules alone count as persistence', async () => {
    const s = await redisWith(['--save', '900 1', '--appendonly', 'no']);
    const client = new Redis(s.url);
    try {
      assert.deepEqual(await redisDurabilityProblems(client), []);
    } finally {
      client.disconnect();
    }
  });
});

describe('check-config --connect', () => {
  test('names the setting as a failed check, with the second factor on', async () => {
    const r = await runCli(['check-config', '--connect', '--json', '--config', configFor((await redisWith()).url)], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; detail: string }[] };
    const check = out.checks.find((c) => c.name === 'redis appendonly');
    assert.ok(check && !check.ok && /appendonly yes/.test(check.detail), JSON.stringify(out.checks));
  });

  test('with the policy off the check applies once anyone has enrolled a factor', async () => {
    const s = await redisWith();
    const file = configFor(s.url, { require: 'never' });
    const quiet = JSON.parse((await runCli(['check-config', '--connect', '--json', '--config', file], { timeoutMs: 30_000 })).stdout) as { checks: { name: string }[] };
    assert.ok(!quiet.checks.some((c) => c.name.startsWith('redis appendonly')), JSON.stringify(quiet.checks));
    const client = new Redis(s.url);
    await client.sadd(MFA_PEOPLE_KEY, randomUUID());
    client.disconnect();
    const r = await runCli(['check-config', '--connect', '--json', '--config', file], { timeoutMs: 30_000 });
    assert.equal(r.code, 1);
    assert.ok((JSON.parse(r.stdout) as { checks: { name: string }[] }).checks.some((c) => c.name === 'redis appendonly'));
  });
});
