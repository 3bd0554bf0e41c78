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

  function loadWith(trustProxy: unknown, mfa: Record<string, unknown>) {
    const bindPasswordFile = join(dir, 'bind_password');
    const keyFile = join(dir, 'mfa_key');
    writeFileSync(bindPasswordFile, 'x\n', { mode: 0o600 });
    writeFileSync(keyFile, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', { mode: 0o600 });
    const file = join(dir, 'gateway-mfa.yaml');
    writeFileSync(file, stringify({
      server: { publicUrl: 'https://sentry.example.com', trustProxy },
      upstream: { url: 'http://web:9000' },
      ldap: { urls: ['ldaps://dc1.corp.example.com'], bindDn: 'CN=svc,DC=corp,DC=example,DC=com', bindPasswordFile, baseDn: 'DC=corp,DC=example,DC=com' },
      session: { redisUrl: 'redis://127.0.0.1:6379/0' },
      mfa: { keyFile, ...mfa },
    }));
    return loadConfig({ file, env: {}, interfaces: CONTAINER });
  }
  const trustProblem = (trustProxy: unknown, mfa: Record<string, unknown>) => {
    const r = loadWith(trustProxy, mfa);
    return r.ok ? undefined : r.problems.find((p) => p.path === 'server.trustProxy');
  };

  describe('with the second factor judging networks, a trustProxy wider than a load balancer is an error', () => {
    const outside = { require: 'outside', trustedNetworks: ['198.51.100.0/24'] };
    const wide: [string, string | boolean | number, RegExp][] = [
      ['a range covering the host\'s own network', '172.16.0.0/12', /covers this host's own network 172\.18\.0\.0\/16 \(eth0\)/],
      ['the bridge address the port proxy connects from', '172.18.0.1', /172\.18\.0\.0\/16/],
      ['"uniquelocal"', 'uniquelocal', /every private address/],
      ['a /8 away from the host', '10.0.0.0/8', /\/8, wider than a load balancer/],
      ['an IPv6 /32', '2001:db8::/32', /\/32, wider than a load balancer/],
      ['true', true, /true trusts every peer/],
      ['a hop count', 1, /hop count/],
    ];
    for (const [name, trustProxy, why] of wide) {
      test(`${name} with mfa.require: outside is refused at server.trustProxy`, () => {
        const p = trustProblem(trustProxy, outside);
        assert.ok(p, `${String(trustProxy)} loaded`);
        assert.match(p.message, why);
        assert.match(p.message, /mfa\.require/);
        assert.match(p.message, /X-Forwarded-For/);
      });
    }

    test('the enrolment networks count too: enrolFrom, or trustedNetworks standing in for it, under any require', () => {
      assert.match(trustProblem('172.16.0.0/12', { require: 'always', enrolFrom: ['198.51.100.0/24'] })?.message ?? '', /With mfa\.enrolFrom /);
      assert.match(trustProblem('172.16.0.0/12', { require: 'never', trustedNetworks: ['198.51.100.0/24'] })?.message ?? '', /With mfa\.trustedNetworks /);
    });

    test('the load balancer\'s own address is fine, and so is a wide trustProxy where no network decides anything (a warning)', () => {
      assert.equal(trustProblem('198.51.100.7, 10.9.8.0/24', outside), undefined);
      assert.ok(loadWith('198.51.100.7', outside).ok);
      const links = loadWith('172.16.0.0/12', { require: 'always', enrolFrom: [] });
      assert.ok(links.ok, 'links only: no network decides');
      assert.equal(links.warnings.filter((w) => w.startsWith('server.trustProxy')).length, 1, 'still warned about');
    });
  });
});

