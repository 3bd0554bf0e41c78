// The allocator setting `serve` makes at start-up (src/shared/mallocTuning.ts): made unless the operator tuned malloc.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keepFreedBuffersMapped, operatorTunedMalloc } from '../../src/shared/mallocTuning.js';

describe('keepFreedBuffersMapped', () => {
  test("an operator's own malloc settings win", () => {
    for (const env of [{ MALLOC_TRIM_THRESHOLD_: '0' }, { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' }, { GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1' }]) {
      assert.equal(operatorTunedMalloc(env), true, JSON.stringify(env));
      assert.equal(keepFreedBuffersMapped(env), false, `nothing is changed under ${JSON.stringify(env)}`);
    }
  });

  test('other variables do not count as tuning', () => {
    assert.equal(operatorTunedMalloc({ MALLOC: 'x', GLIBC_TUNABLES: 'glibc.pthread.rseq=0', NODE_OPTIONS: '--max-old-space-size=512' }), false);
  });

  test('on Linux it frees its priming block and the process carries on', { skip: process.platform !== 'linux' }, async () => {
    const before = process.memoryUsage().arrayBuffers;
    assert.equal(keepFreedBuffersMapped({}), true);
    // The 31 MiB block is gone again: it only told the allocator how much freed memory to keep. V8 sweeps
    // dead array buffers on a background thread, so on a loaded machine the count can drop a little after
    // the collection returns: wait for it (bounded), rather than read it once.
    const grown = () => process.memoryUsage().arrayBuffers - before;
    for (let waited = 0; grown() >= 16 * 1024 * 1024 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    assert.ok(grown() < 16 * 1024 * 1024, `the priming block is still counted: ${grown()} bytes more than before`);
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'gc is not left exposed');
  });
});
