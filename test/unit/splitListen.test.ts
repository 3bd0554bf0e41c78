// server.listen and server.metricsListen are split into what node's listen() takes, one way for both listeners.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitListen } from '../../src/shared/splitListen.js';

test('an IPv6 address in brackets binds that address, without the brackets', () => {
  assert.deepEqual(splitListen('[::1]:9464'), { host: '::1', port: 9464 });
  assert.deepEqual(splitListen('[2001:db8::5]:8080'), { host: '2001:db8::5', port: 8080 });
});

test('an IPv4 address and a port', () => {
  assert.deepEqual(splitListen('0.0.0.0:8080'), { host: '0.0.0.0', port: 8080 });
});

test('port 0 stays 0: the system picks a free port (tests read the bound one back)', () => {
  assert.deepEqual(splitListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
});

test('a host name', () => {
  assert.deepEqual(splitListen('localhost:9464'), { host: 'localhost', port: 9464 });
});
