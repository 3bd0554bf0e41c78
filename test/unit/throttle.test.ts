// The sign-in throttle's rules, with a pinned clock: a window that restarts at every failure, like AD's;
// the stricter of the domain and fine-grained lockout policies; client addresses keyed by /64.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey } from '../../src/auth/addressKey.js';
import { LoginThrottle, protectsFromLockout } from '../../src/auth/throttle.js';
import { unprotectedPolicyWarnings } from '../../src/auth/explainLockout.js';
import { stricter } from '../../src/directory/lockoutPolicies.js';
import { GatewayError } from '../../src/errors.js';

class PinnedClock {
  t = Date.UTC(2026, 0, 5, 9, 0, 0);
  now(): number {
    return this.t;
  }
}

async function outcome(p: Promise<void>): Promise<string> {
  try {
    await p;
    return 'counted';
  } catch (e) {
    assert.ok(e instanceof GatewayError);
    return `${e.code} retry ${e.headers['Retry-After']}`;
  }
}

test('a patient attacker: the account window restarts at every failure, so AD never reaches its threshold', async () => {
  // The reported case: AD locks at 5 within a 1-minute observation window; the gateway's window is 1 minute too.
  const clock = new PinnedClock();
  const start = clock.t;
  const throttle = new LoginThrottle({ perUser: 'auto', perAddress: 1000, windowMs: 60_000 }, null, clock);
  const policy = { threshold: 5, observationWindowMs: 60_000 };
  const at = async (s: number) => {
    clock.t = start + s * 1000;
    return outcome(throttle.takeUser('dn:cn=victim', policy));
  };
  assert.equal(await at(0), 'counted');
  assert.equal(await at(30), 'counted');
  assert.equal(await at(31), 'counted');
  assert.equal(await at(32), 'GW_THROTTLED retry 59', 'three is threshold − 2');
  // A window from the first failure would have ended at 60 s; AD still remembers the failure at 31 s.
  assert.equal(await at(62), 'GW_THROTTLED retry 29');
  assert.equal(await at(63), 'GW_THROTTLED retry 28');
  assert.equal(await at(90), 'GW_THROTTLED retry 1');
  // A whole quiet minute after the last failure: AD has forgotten, and so does the gateway.
  assert.equal(await at(91), 'counted');
});

test('refused attempts do not restart the window; they never reached AD', async () => {
  const clock = new PinnedClock();
  const start = clock.t;
  const throttle = new LoginThrottle({ perUser: 1, perAddress: 1000, windowMs: 60_000 }, null, clock);
  const policy = { threshold: 0, observationWindowMs: 0 };
  assert.equal(await outcome(throttle.takeUser('dn:x', policy)), 'counted');
  for (const s of [10, 30, 59]) {
    clock.t = start + s * 1000;
    assert.match(await outcome(throttle.takeUser('dn:x', policy)), /^GW_THROTTLED/);
  }
  clock.t = start + 60_000;
  assert.equal(await outcome(throttle.takeUser('dn:x', policy)), 'counted');
});

test("the account's window is never shorter than AD's observation window", async () => {
  const clock = new PinnedClock();
  const start = clock.t;
  const throttle = new LoginThrottle({ perUser: 'auto', perAddress: 1000, windowMs: 60_000 }, null, clock);
  const policy = { threshold: 3, observationWindowMs: 30 * 60_000 };
  assert.equal(await outcome(throttle.takeUser('dn:y', policy)), 'counted');
  clock.t = start + 29 * 60_000;
  assert.equal(await outcome(throttle.takeUser('dn:y', policy)), 'GW_THROTTLED retry 60');
});

test('the stricter of the domain and the fine-grained policy applies', () => {
  const domain = { threshold: 10, observationWindowMs: 30 * 60_000 };
  const pso = (threshold: number, minutes: number) => ({ name: 'p', dn: 'CN=p', threshold, observationWindowMs: minutes * 60_000 });
  const cases: [Parameters<typeof stricter>[1], number, number, string][] = [
    ['none', 10, 30, 'domain'],
    ['unreadable', 10, 30, 'domain'],
    [pso(5, 1), 5, 30, 'fine-grained'],
    [pso(20, 60), 10, 60, 'domain'],
    [pso(0, 0), 10, 30, 'domain'],
  ];
  for (const [fg, threshold, minutes, source] of cases) {
    assert.deepEqual(stricter(domain, fg), { threshold, observationWindowMs: minutes * 60_000, source }, JSON.stringify(fg));
  }
  assert.deepEqual(stricter({ threshold: 0, observationWindowMs: 0 }, pso(4, 2)), { threshold: 4, observationWindowMs: 120_000, source: 'fine-grained' });
});

test('addresses: IPv6 by its /64, IPv4-mapped IPv6 as IPv4', () => {
  const cases: [string, string][] = [
    ['198.51.100.7', '198.51.100.7'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['::FFFF:c633:6407', '198.51.100.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8:1:2:3:4:1.2.3.4', '2001:db8:1:2::/64'],
  ];
  for (const [address, key] of cases) assert.equal(addressKey(address), key, address);
});

test('one IPv6 host rotating through its /64 shares one address allowance', async () => {
  const throttle = new LoginThrottle({ perUser: 'auto', perAddress: 3, windowMs: 60_000 }, null, new PinnedClock());
  for (const a of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:aaaa::3']) assert.equal(await outcome(throttle.takeAddress(a)), 'counted');
  assert.match(await outcome(throttle.takeAddress('2001:db8:1:2:ffff::4')), /^GW_THROTTLED/);
  assert.equal(await outcome(throttle.takeAddress('2001:db8:1:3::1')), 'counted', 'the next /64 is another client');
  assert.equal(await outcome(throttle.takeAddress('::ffff:198.51.100.7')), 'counted');
});

test('explain names the policy that applies, both policies as read, and what the gateway allows', async () => {
  const { describeLockout, explainLockout } = await import('../../src/auth/explainLockout.js');
  const domain = { threshold: 10, observationWindowMs: 30 * 60_000 };
  const pso = { name: 'Tier0 admins', dn: 'CN=Tier0 admins,CN=Password Settings Container', threshold: 4, observationWindowMs: 60 * 60_000 };
  const strict = explainLockout({ ...stricter(domain, pso), domain, fineGrained: pso }, { perUser: 'auto', windowMs: 15 * 60_000 });
  assert.deepEqual(strict.gateway, { failuresAllowed: 2, windowMs: 60 * 60_000, protectsFromLockout: true });
  assert.deepEqual(describeLockout(strict), [
    'Lockout:  the fine-grained policy applies (locks after 4 bad passwords within 1h)',
    '  domain:       locks after 10 bad passwords within 30m',
    '  fine-grained: "Tier0 admins": locks after 4 bad passwords within 1h',
    '  gateway:      2 failed sign-ins, then 429 until 1h pass without a failure',
  ]);
  const hidden = describeLockout(explainLockout({ ...stricter(domain, 'unreadable'), domain, fineGrained: 'unreadable' }, { perUser: 'auto', windowMs: 15 * 60_000 }));
  assert.match(hidden[0]!, /the domain policy applies/);
  assert.match(hidden[2]!, /NOT READABLE by the service account/);
});

test('thresholds of 1 and 2 are beyond the gateway (it must let one attempt through); 3 and up, and none, are not', () => {
  for (const perUser of ['auto', 5, 1] as const) {
    assert.deepEqual([0, 1, 2, 3, 4, 10].map((th) => protectsFromLockout({ perUser }, th)), [true, false, false, true, true, true], `perUser ${perUser}`);
  }
  const w = unprotectedPolicyWarnings(
    { domain: { threshold: 2, observationWindowMs: 60_000 }, fineGrained: [{ name: 'strict', threshold: 1 }, { name: 'fine', threshold: 5 }] },
    { perUser: 'auto' },
  );
  assert.equal(w.length, 2);
  assert.match(w[0]!, /^lockout: the domain policy: a lockout threshold of 2 .*one wrong password through the gateway and one elsewhere locks/);
  assert.match(w[1]!, /^lockout: the fine-grained policy "strict" .*threshold of 1 .*one wrong password locks/);
});
