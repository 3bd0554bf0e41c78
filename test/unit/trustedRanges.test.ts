// server.trustProxy against the host's own networks: a range holding the container's bridge network (where the port
// proxy connects from for host-local and IPv6 clients) is warned about, with its key path, by check-config and serve.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/loadConfig.js';
import { networkOf, trustedOwnNetworks } from '../../src/shared/trustedRanges.js';

/** A container on a Docker bridge network: eth0 172.18.0.5/16 (bridge 172.18.0.1), an IPv6 ULA, and loopback. */
const CONTAINER: NodeJS.Dict<NetworkInterfaceInfo[]> = {
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: '172.18.0.5', netmask: '255.255.0.0', family: 'IPv4', mac: '02:42:ac:12:00:05', internal: false, cidr: '172.18.0.5/16' },
    { address: 'fd00:dead:beef::5', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:42:ac:12:00:05', internal: false, cidr: 'fd00:dead:beef::5/64', scopeid: 0 },
  ],
};

describe('server.trustProxy against the host\'s own networks', () => {
  test('networks are computed from an address and its prefix or mask', () => {
    assert.deepEqual(networkOf('172.18.0.5/16'), { family: 'ipv4', first: '172.18.0.0', last: '172.18.255.255', cidr: '172.18.0.0/16' });
    assert.equal(networkOf('10.1.2.3/255.255.255.0')?.cidr, '10.1.2.0/24');
    assert.equal(networkOf('fd00:dead:beef::5/64')?.last, 'fd00:dead:beef:0:ffff:ffff:ffff:ffff');
    assert.equal(networkOf('::ffff:10.1.2.3/120')?.first, '0:0:0:0:0:ffff:a01:200');
    assert.equal(networkOf('not-an-address'), undefined);
  });

  const warned: [string, string | boolean | number, string[]][] = [
    ['the old self-hosted example 172.16.0.0/12', '172.16.0.0/12', ['172.18.0.0/16']],
    ['"uniquelocal" (10/8, 172.16/12, 192.168/16, fc00::/7)', 'uniquelocal', ['172.18.0.0/16', 'fd00:dead:beef:0:0:0:0:0/64']],
    ['exactly the bridge address docker-proxy connects from', '172.18.0.1', ['172.18.0.0/16']],
    ['a list with one such range', 'loopback, 10.0.0.5, 172.18.0.0/16', ['172.18.0.0/16']],
    ['true', true, ['172.18.0.0/16', 'fd00:dead:beef:0:0:0:0:0/64']],
    ['a hop count', 1, ['172.18.0.0/16', 'fd00:dead:beef:0:0:0:0:0/64']],
  ];
  for (const [name, trustProxy, networks] of warned) {
    test(`${name} is reported`, () => {
      assert.deepEqual(trustedOwnNetworks(trustProxy, CONTAINER).map((o) => o.network), networks);
    });
  }

  const quiet: [string, string | boolean | number][] = [
    ['loopback (the default)', 'loopback'],
    ["the load balancer's exact address on the same network", '172.18.0.3'],
    ['a load balancer on another network', '10.0.0.5/32'],
    ['false', false],
  ];
  for (const [name, trustProxy] of quiet) {
    test(`${name} is not`, () => assert.deepEqual(trustedOwnNetworks(trustProxy, CONTAINER), []));
  }

  const dir = mkdtempSync(join(tmpdir(), 'sag-test-trust-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  function warnings(trustProxy: unknown): string[] {
    const bindPasswordFile = join(dir, 'bind_password');
    writeFileSync(bindPasswordFile, 'x\n', { mode: 0o600 });
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, stringify({
      server: { publicUrl: 'https://sentry.example.com', trustProxy },
      upstream: { url: 'http://web:9000' },
      ldap: { urls: ['ldaps://dc1.corp.example.com'], bindDn: 'CN=svc,DC=corp,DC=example,DC=com', bindPasswordFile, baseDn: 'DC=corp,DC=example,DC=com' },
      session: { redisUrl: 'redis://127.0.0.1:6379/0' },
    }));
    const r = loadConfig({ file, env: {}, interfaces: CONTAINER });
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
    return r.warnings.filter((w) => w.startsWith('server.trustProxy'));
  }

  test('the config loader warns with the key path and the network, the warning check-config and serve print', () => {
    const w = warnings('172.16.0.0/12');
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /^server\.trustProxy: "172\.16\.0\.0\/12" .*172\.18\.0\.0\/16 \(eth0\)/);
    assert.deepEqual(warnings('172.18.0.3'), []);
  });
});
