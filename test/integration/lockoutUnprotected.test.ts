// Lockout thresholds of 1 or 2 leave the gateway no room below them: it must let one attempt reach AD, and that
// locks (or, with one elsewhere, locks) the account. Said everywhere an operator looks: the start-up log,
// check-config --connect, explain (CLI and console) and readyz for admins; never to anonymous callers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { signedIn, textOf } from '../support/adminHelpers.js';
import { runCli } from '../support/cli.js';
import { createPso, grantPsoRead, sambaTool } from '../support/dc.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const suffix = randomBytes(3).toString('hex');
/** A throwaway account and policy of this file: no other suite's fixture user falls under threshold 1. */
const user = `lk1-${suffix}`;
const pso = `sag-lk1-${suffix}`;

let t: TestGateway;
before(async () => {
  await sambaTool(['user', 'create', user, DEMO_PASSWORD, '--userou=OU=People']);
  await sambaTool(['group', 'addmembers', 'Sentry Users', user]);
  await createPso(pso, { precedence: 3, lockoutThreshold: 1, windowMinutes: 30, applyTo: [user] });
  await grantPsoRead();
  t = await startTestGateway();
});
after(async () => {
  await t?.close();
  await sambaTool(['domain', 'passwordsettings', 'pso', 'delete', pso]).catch(() => undefined);
  await sambaTool(['user', 'delete', user]).catch(() => undefined);
});

describe('a lockout threshold of 1: the gateway says it cannot protect such accounts', () => {
  test('the start-up log names the policy', async () => {
    const hit = () => t.logs.find((l) => l.includes(`fine-grained policy \\"${pso}\\"`) && l.includes('cannot prevent it'));
    for (let i = 0; i < 100 && !hit(); i++) await sleep(50);
    assert.ok(hit(), t.logs.filter((l) => l.includes('lockout')).join('\n') || 'no lockout line logged');
    assert.match(hit()!, /"level":(40|"warn")/);
  });

  test('check-config --connect warns about it, and not about the domain policy (threshold 10)', async () => {
    const r = await runCli(['check-config', '--connect', '--config', t.configFile]);
    const lines = r.stdout.split('\n').filter((l) => l.includes('warning: lockout'));
    assert.equal(lines.length, 1, r.stdout);
    assert.match(lines[0]!, new RegExp(`fine-grained policy "${pso}".*threshold of 1.*one wrong password locks the account`));
  });

  test('explain on the account says so (text and JSON); on an account under the domain policy it does not', async () => {
    const text = await runCli(['explain', user, '--config', t.configFile]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /WARNING: +a lockout threshold of 1 leaves the gateway no room/);
    const json = JSON.parse((await runCli(['explain', user, '--json', '--config', t.configFile])).stdout) as { lockout: { threshold: number; gateway: { failuresAllowed: number; protectsFromLockout: boolean } } };
    assert.deepEqual([json.lockout.threshold, json.lockout.gateway.failuresAllowed, json.lockout.gateway.protectsFromLockout], [1, 1, false]);
    const alice = await runCli(['explain', 'alice', '--config', t.configFile]);
    assert.doesNotMatch(alice.stdout, /WARNING/);
  });

  test("the console's explain page and readyz say it to an admin; anonymous readyz says nothing", async () => {
    const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const page = await (await admin.get(`/_gateway/admin/explain?user=${user}`)).text();
    assert.match(page, /id="lockout-unprotected"/);
    assert.ok(textOf(page).includes('The gateway cannot keep this account from being locked: with a lockout threshold of 1'));
    const zh = textOf(await (await admin.get(`/_gateway/admin/explain?user=${user}&lang=zh-CN`)).text());
    assert.ok(zh.includes('网关无法防止此账号被锁定'));
    const alicePage = await (await admin.get('/_gateway/admin/explain?user=alice')).text();
    assert.doesNotMatch(alicePage, /lockout-unprotected/);

    const ready = (await (await admin.get('/_gateway/readyz', { accept: 'application/json' })).json()) as { warnings: { code: string; message: string }[] };
    const w = ready.warnings.filter((x) => x.code === 'lockout_unprotected');
    assert.equal(w.length, 1, JSON.stringify(ready.warnings));
    assert.ok(w[0]!.message.includes(pso));
    const anonymous = await (await fetch(`${t.url}/_gateway/readyz`)).text();
    assert.ok(!anonymous.includes(pso) && !anonymous.includes('warnings'), anonymous);
  });
});
