import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BindSlots } from '../../src/directory/bindSlots.js';
import { GatewayError } from '../../src/errors.js';

function deferred() {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { done, release };
}

test('past maxConcurrentBinds, with no wait allowed, a bind is refused at once with 503 GW_DIRECTORY_BUSY', async () => {
  const slots = new BindSlots({ max: 2, waitMs: 0 });
  const a = deferred();
  const b = deferred();
  const running = [slots.run(() => a.done), slots.run(() => b.done)];
  assert.equal(slots.active, 2);
  await assert.rejects(slots.run(async () => 'never'), (e: unknown) => e instanceof GatewayError && e.code === 'GW_DIRECTORY_BUSY' && e.status === 503 && e.headers['Retry-After'] === '1');
  a.release();
  await running[0];
  assert.equal(await slots.run(async () => 'ran'), 'ran', 'a freed slot is used again');
  b.release();
  await Promise.all(running);
  assert.equal(slots.active, 0);
});

test('waiters get slots in order, and the queue is bounded in length', async () => {
  const slots = new BindSlots({ max: 1, waitMs: 60_000, maxWaiting: 2 });
  const first = deferred();
  const order: string[] = [];
  const p1 = slots.run(() => first.done);
  const p2 = slots.run(async () => void order.push('second'));
  const p3 = slots.run(async () => void order.push('third'));
  await assert.rejects(slots.run(async () => undefined), (e: unknown) => e instanceof GatewayError && e.code === 'GW_DIRECTORY_BUSY');
  first.release();
  await Promise.all([p1, p2, p3]);
  assert.deepEqual(order, ['second', 'third']);
  assert.equal(slots.active, 0);
});

test('a failing bind frees its slot', async () => {
  const slots = new BindSlots({ max: 1, waitMs: 0 });
  await assert.rejects(slots.run(async () => Promise.reject(new Error('refused'))), /refused/);
  assert.equal(await slots.run(async () => 'ok'), 'ok');
});
