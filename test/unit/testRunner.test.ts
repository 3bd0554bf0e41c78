// The test command itself: a suite whose setup fails fails at once and the run ends; a run that hangs is stopped.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');

/** Pids of processes whose command line names `fixture` (read from /proc). */
function stillRunning(fixture: string): string[] {
  return readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(fixture);
    } catch {
      return false;
    }
  });
}

/** Runs `tsx test/run.ts <file>`; a run still going after `killAfterMs` is killed and reported as hung. */
function runSuite(file: string, env: NodeJS.ProcessEnv, killAfterMs: number): Promise<{ code: number | null; out: string; hung: boolean }> {
  // Without NODE_TEST_CONTEXT the inner run reports for itself, as `npm test` does, not to this runner.
  const { NODE_TEST_CONTEXT: _, ...outer } = process.env;
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/run.ts', file], { cwd: ROOT, env: { ...outer, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let hung = false;
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    const timer = setTimeout(() => {
      hung = true;
      // The whole process group: the runner's own child would otherwise hold the pipes open.
      process.kill(-child.pid!, 'SIGKILL');
    }, killAfterMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, out, hung });
    });
  });
}

describe('test/run.ts', () => {
  test('a suite whose before hook fails (leaving a server open) fails and the run ends', async () => {
    const r = await runSuite('test/unit/fixtures/failingSetup.fixture.ts', {}, 60_000);
    assert.equal(r.hung, false, `the run did not end after its setup failed:\n${r.out.slice(-2000)}`);
    assert.notEqual(r.code, 0, 'a failed setup fails the run');
    assert.match(r.out, /setup failed on purpose/);
    assert.match(r.out, /held open by .*TCPServerWrap/, 'the report names what kept the file running');
  });

  test('every result of a file reaches the report, up to its last one', async () => {
    const r = await runSuite('test/unit/fixtures/manyResults.fixture.ts', {}, 60_000);
    assert.equal(r.code, 0, r.out.slice(-2000));
    assert.match(r.out, /^ℹ tests 400$/m);
    assert.match(r.out, /^ℹ pass 400$/m);
    assert.match(r.out, /result 19\.19/);
  });

  test('a run that hangs is stopped after SAG_TEST_RUN_TIMEOUT minutes and fails', async () => {
    const r = await runSuite('test/unit/fixtures/hangingTest.fixture.ts', { SAG_TEST_RUN_TIMEOUT: '0.05' }, 60_000);
    assert.equal(r.hung, false, `the run was not stopped:\n${r.out.slice(-2000)}`);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /SAG_TEST_RUN_TIMEOUT/);
    assert.deepEqual(stillRunning('hangingTest.fixture.ts'), [], 'the hanging test file was stopped with its run, not left behind');
  });
});
