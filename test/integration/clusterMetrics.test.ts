// `serve` with server.workers > 1: a metrics scrape answers for every worker, not only the one it reached.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeDevConfig } from '../../src/dev/devConfig.js';
import { freePort } from '../../src/dev/redisServer.js';
import { testDc } from '../support/dc.js';
import { startEchoUpstream, type EchoUpstream } from '../support/echoUpstream.js';
import { testRedisUrl } from '../support/gateway.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TOKEN = 'cluster-metrics-' + 'z'.repeat(24);
const REQUESTS = 24;

let upstream: EchoUpstream;
let child: ChildProcess;
let base: string;
let output = '';

/** One request on a connection of its own, so the cluster spreads them over its workers. */
function post(path: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = http.request(`${base}${path}`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', fail);
    req.end('{}');
  });
}

function ingestionCount(text: string): number {
  const line = text.split('\n').find((l) => l.startsWith('sag_proxy_request_duration_seconds_count{') && l.includes('route_class="ingestion"') && l.includes('status="200"'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

before(async () => {
  upstream = await startEchoUpstream();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sag-test-cluster-'));
  const tokenFile = join(dir, 'metrics_token');
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
  const { file } = writeDevConfig({
    dir,
    dc: testDc(),
    redisUrl: testRedisUrl(),
    upstreamUrl: upstream.url,
    listen: `127.0.0.1:${port}`,
    publicUrl: `http://127.0.0.1:${port}`,
    overrides: { server: { workers: 2, metricsTokenFile: tokenFile }, log: { level: 'info' } },
  });
  base = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SAG_')));
  child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (output += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString('utf8')));
  // Both workers listening: the primary logs each start; poll health until the port answers.
  const until = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(`${base}/_gateway/healthz`).then((r) => r.ok, () => false);
    if (up && (output.match(/gateway listening/g) ?? []).length >= 2) break;
    if (Date.now() > until || child.exitCode !== null) throw new Error(`serve with two workers did not come up:\n${output.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await upstream?.close();
});

describe('metrics with server.workers = 2', () => {
  test('every scrape counts the requests of both workers', async () => {
    for (let i = 0; i < REQUESTS; i++) assert.equal(await post('/api/42/envelope/'), 200);
    // Each scrape lands on either worker; every one of them must see all the traffic.
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${base}/_gateway/metrics`, { headers: { authorization: `Bearer ${TOKEN}`, connection: 'close' } });
      assert.equal(res.status, 200);
      assert.equal(ingestionCount(await res.text()), REQUESTS, `scrape ${i + 1} sees every worker's ingestion requests`);
    }
  });
});
