import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { logRequest } from '../../src/proxy/requestLog.js';
import { createLogger } from '../../src/shared/logger.js';

function capture(level: string) {
  const lines: string[] = [];
  const logger = createLogger(level, new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) }));
  return { logger, lines };
}

test('the request line has the shape and fields of every other line, and awkward paths stay valid JSON', async () => {
  const { logger, lines } = capture('info');
  const path = '/organizations/"acme"/\u2028\\issues/\u00e9';
  logger.info({ reqId: 'r-1', method: 'GET', path, route: 'session', status: 200, ms: 1.5 }, 'request');
  logRequest(logger, { requestId: 'r-1', method: 'GET', path, route: 'session', status: 200, ms: 1.5, aborted: false });
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 2);
  const [viaPino, prebuilt] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.match(String(prebuilt!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(Object.keys(prebuilt!), Object.keys(viaPino!));
  assert.deepEqual({ ...prebuilt, time: 0 }, { ...viaPino, time: 0 });
  assert.ok(lines[1]!.endsWith('}\n'));
});

test('health-check paths log at debug only, and a long path is cut at 512 characters', async () => {
  const { logger, lines } = capture('info');
  logRequest(logger, { requestId: 'r-2', method: 'GET', path: '/_health/', route: 'health', status: 200, ms: 0.1, aborted: false });
  logRequest(logger, { requestId: 'r-3', method: 'GET', path: `/${'a'.repeat(2000)}`, route: 'session', status: 401, ms: 0.2, aborted: true });
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(line.reqId, 'r-3');
  assert.equal(String(line.path).length, 513);
  assert.equal(line.aborted, true);
});

test('a path that carries a secret is logged without it, in the same line shape', async () => {
  const { logger, lines } = capture('info');
  const token = '9c1d5e2f7a8b4c3d9e0f1a2b3c4d5e6f';
  logRequest(logger, { requestId: 'r-4', method: 'GET', path: `/accept/42/${token}/`, route: 'session', status: 302, ms: 0.3, aborted: false });
  logRequest(logger, { requestId: 'r-5', method: 'GET', path: `/api/0/wizard/${token}/`, route: 'tokenApi', status: 200, ms: 0.3, aborted: false });
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 2);
  for (const l of lines) assert.ok(!l.includes(token), l);
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { path: string }).path), ['/accept/[redacted]/', '/api/0/wizard/[redacted]/']);
});

// The gateway's own stdout destination, in a process of its own: what an operator tailing the log sees.
describe('the asynchronous stdout log', () => {
  const script = (body: string) =>
    `import { createLogger } from ${JSON.stringify(new URL('../../src/shared/logger.ts', import.meta.url).pathname)};\n` +
    `const logger = createLogger('info');\n${body}`;
  const start = (body: string) => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(body)], { stdio: ['ignore', 'pipe', 'inherit'] });

  test('a lone line on a quiet gateway shows up while the process keeps running', { timeout: 20_000 }, async () => {
    const child = start(`logger.info({ reqId: 'quiet-1' }, 'request'); setTimeout(() => undefined, 60_000);`);
    try {
      let out = '';
      for await (const chunk of child.stdout) {
        out += String(chunk);
        if (out.includes('\n')) break;
      }
      assert.equal(child.exitCode, null, 'the line came only when the process ended');
      assert.equal((JSON.parse(out.split('\n')[0]!) as { reqId: string }).reqId, 'quiet-1');
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('every line logged before exit is written, whole, however many are still waiting', async () => {
    const child = start(
      `for (let i = 0; i < 5000; i++) logger.info({ reqId: 'r-' + i, path: '/organizations/acme/issues/' }, 'request');\nprocess.exit(0);`,
    );
    let out = '';
    for await (const chunk of child.stdout) out += String(chunk);
    const lines = out.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 5000);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { reqId: string }).reqId),
      Array.from({ length: 5000 }, (_, i) => `r-${i}`),
    );
  });
});
