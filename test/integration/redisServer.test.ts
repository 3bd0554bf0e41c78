// The redis-server the tests and the demo start: a port another process took between the pick and the bind is
// swapped for a new one, and a server that cannot start is described by its exit and its own words.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startRedisServer, type RedisServer } from '../../src/dev/redisServer.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(() => Promise.allSettled(cleanups.map((c) => c())));

async function occupy(): Promise<Server> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return srv;
}

test('a port taken after it was picked as free is retried with a new one, and the server comes up there', async () => {
  const squatter = await occupy();
  const taken = (squatter.address() as { port: number }).port;
  const picked: number[] = [];
  // The first pick is the port another process holds by the time redis-server binds it.
  const pickPort = async () => {
    const p = picked.length === 0 ? taken : await freePort();
    picked.push(p);
    return p;
  };
  const server: RedisServer = await startRedisServer({ pickPort });
  cleanups.push(() => server.stop());
  assert.equal(picked.length, 2, 'a second port was picked after the first could not be bound');
  assert.equal(picked[0], taken);
  assert.equal(server.port, picked[1]);
  assert.equal(server.url, `redis://127.0.0.1:${picked[1]}/0`);
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  cleanups.push(async () => client.disconnect());
  await client.connect();
  assert.equal(await client.ping(), 'PONG');
});

test('a redis-server that exits at once (bad config) is reported with its exit code and what it printed, without retrying', async () => {
  let picks = 0;
  const err = await startRedisServer({
    args: ['--no-such-directive', 'yes'],
    pickPort: async () => {
      picks++;
      return freePort();
    },
  }).then(
    () => assert.fail('a bad config must not start'),
    (e: Error) => e,
  );
  assert.match(err.message, /redis-server/);
  assert.match(err.message, /exit code 1\b/, err.message);
  // Redis's own words about the bad directive, quoted.
  assert.match(err.message, /no-such-directive/, err.message);
  assert.match(err.message, /Bad directive or wrong number of arguments/, err.message);
  assert.match(err.message, /nothing else listens on port \d+/, err.message);
  assert.equal(picks, 1, 'a config error is not a taken port: no new port is tried');
});

test('a port held by another redis-server is not mistaken for the one just started: a new port is tried', async () => {
  // The other server answers PING on the picked port before ours has failed to bind it.
  const other = await startRedisServer();
  cleanups.push(() => other.stop());
  const picked: number[] = [];
  const pickPort = async () => {
    const p = picked.length === 0 ? other.port : await freePort();
    picked.push(p);
    return p;
  };
  const server = await startRedisServer({ pickPort });
  cleanups.push(() => server.stop());
  assert.equal(picked.length, 2, 'the taken port was given up for a new one');
  assert.equal(server.port, picked[1]);
  // Stopping ours leaves the other running, and the other is still its own server.
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  cleanups.push(async () => client.disconnect());
  await client.connect();
  const ours = /^process_id:(\d+)/m.exec(await client.info('server'))?.[1];
  const theirs = new Redis(other.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  cleanups.push(async () => theirs.disconnect());
  await theirs.connect();
  assert.notEqual(ours, /^process_id:(\d+)/m.exec(await theirs.info('server'))?.[1], 'two servers, not one answering for both');
});
