// Sentry's system.url-prefix, read from the Link header of its own answers, against server.publicUrl:
// check-config --connect names both and the setting to change; the console's front page and admin readiness
// say the same while it holds. Against the fake Sentry, which builds Link from its url-prefix as Sentry does.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeDevConfig } from '../../src/dev/devConfig.js';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { runCli } from '../support/cli.js';
import { testDc } from '../support/dc.js';
import { assertNoViolations, startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { Client, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';
import { textOf } from '../support/adminHelpers.js';

const TOKEN = 'sntryu_' + 'u'.repeat(32);
const INTERNAL = 'http://sentry-web:9000';
const PUBLIC = 'https://sentry.example.com';
let fake: FakeSentry;
let dir: string;
let tokenFile: string;

before(async () => {
  fake = await startFakeSentry({ organization: 'acme', token: TOKEN, urlPrefix: INTERNAL });
  dir = mkdtempSync(join(tmpdir(), 'sag-test-urlprefix-'));
  tokenFile = join(dir, 'sentry_token');
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
});
after(async () => {
  if (fake) assertNoViolations(fake);
  await fake?.close();
});

function configFile(name: string): string {
  return writeDevConfig({
    dir: join(dir, name),
    dc: testDc(),
    redisUrl: testRedisUrl(),
    upstreamUrl: fake.url,
    listen: '127.0.0.1:1',
    publicUrl: PUBLIC,
    overrides: { sentry: { url: fake.url, organization: 'acme', tokenFile } },
  }).file;
}

describe('check-config --connect and Sentry’s system.url-prefix', () => {
  test('an internal url-prefix: exit 1, naming what is set, what to set and where', async () => {
    fake.setUrlPrefix(INTERNAL);
    const r = await runCli(['check-config', '--connect', '--config', configFile('internal')]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const line = r.stdout.split('\n').find((l) => l.includes('url-prefix')) ?? '';
    assert.match(line, /FAIL/);
    assert.ok(line.includes(INTERNAL), `names the url-prefix Sentry has: ${line}`);
    assert.ok(line.includes(PUBLIC), `names server.publicUrl: ${line}`);
    assert.ok(line.includes(`system.url-prefix: '${PUBLIC}'`) && line.includes('sentry/config.yml'), `says what to set where: ${line}`);
  });

  test('a matching url-prefix: exit 0 and not a word about it', async () => {
    fake.setUrlPrefix(PUBLIC + '/');
    const r = await runCli(['check-config', '--connect', '--config', configFile('matching')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /url-prefix/);
  });
});

describe('the console and readiness while the url-prefix is wrong', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({ sentry: { url: fake.url, organization: 'acme', tokenFile, provisionOnLogin: false, sync: { interval: '0' } } });
  });
  after(async () => {
    await t?.close();
  });

  test('the front page and admin readiness name both addresses; anonymous readiness does not', async () => {
    fake.setUrlPrefix(INTERNAL);
    const admin = new Client(t.url);
    assert.equal((await admin.login('alice', DEMO_PASSWORD)).status, 303);
    const page = textOf(await (await admin.get('/_gateway/admin/')).text());
    assert.ok(page.includes(`Sentry's system.url-prefix is ${INTERNAL}`), page.slice(0, 600));
    assert.ok(page.includes(`Set system.url-prefix: '${t.config.server.publicUrl}' in sentry/config.yml`));
    const zh = textOf(await (await admin.get('/_gateway/admin/?lang=zh-CN')).text());
    assert.ok(zh.includes(`Sentry 的 system.url-prefix 是 ${INTERNAL}`));

    const ready = (await (await admin.get('/_gateway/readyz', { accept: 'application/json' })).json()) as { warnings: { code: string; message: string }[] };
    assert.equal(ready.warnings[0]?.code, 'sentry_url_prefix');
    assert.ok(ready.warnings[0]!.message.includes(INTERNAL));
    const anonymous = await (await fetch(`${t.url}/_gateway/readyz`)).text();
    assert.ok(!anonymous.includes(INTERNAL) && !anonymous.includes('warnings'), anonymous);
  });

  test('the check is made again a minute later on the gateway’s clock: a fixed url-prefix then clears the warning', async () => {
    fake.setUrlPrefix(INTERNAL);
    const admin = new Client(t.url);
    assert.equal((await admin.login('alice', DEMO_PASSWORD)).status, 303);
    assert.match(await (await admin.get('/_gateway/admin/')).text(), /url-prefix/);
    fake.setUrlPrefix(t.config.server.publicUrl);
    // Within the minute the last finding stands: Sentry is asked at most once a minute.
    assert.match(await (await admin.get('/_gateway/admin/')).text(), /url-prefix/);
    t.clock.advance(61_000);
    assert.doesNotMatch(await (await admin.get('/_gateway/admin/')).text(), /url-prefix/);
    const ready = (await (await admin.get('/_gateway/readyz', { accept: 'application/json' })).json()) as { warnings: unknown[] };
    assert.deepEqual(ready.warnings, []);
  });

  test('with the url-prefix fixed the warning goes (at the next check, within a minute)', async () => {
    fake.setUrlPrefix(t.config.server.publicUrl);
    // A fresh gateway instead of waiting a minute for the recheck.
    const fresh = await startTestGateway({ sentry: { url: fake.url, organization: 'acme', tokenFile, provisionOnLogin: false, sync: { interval: '0' } } });
    try {
      fake.setUrlPrefix(fresh.config.server.publicUrl);
      const admin = new Client(fresh.url);
      assert.equal((await admin.login('alice', DEMO_PASSWORD)).status, 303);
      const html = await (await admin.get('/_gateway/admin/')).text();
      assert.doesNotMatch(html, /url-prefix/);
      const ready = (await (await admin.get('/_gateway/readyz', { accept: 'application/json' })).json()) as { warnings: unknown[] };
      assert.deepEqual(ready.warnings, []);
    } finally {
      await fresh.close();
    }
  });
});
