// The Caddyfile `caddy-config` prints: accepted by the real caddy binary (`caddy validate`), and refused where it
// cannot be right. What it does to requests is tested through Caddy in test/integration/caddyMode.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { caddyConfig } from '../../src/caddy/caddyConfig.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { CADDY } from '../support/caddy.js';
import { runCli } from '../support/cli.js';
import { assertPrintsGenerated, configScratch, writeConfigFile } from '../support/proxyConfigCli.js';

const { dir, ldap } = configScratch('caddy-config');

function input(extra: Partial<ConfigInput> = {}): ConfigInput {
  return {
    server: { publicUrl: 'https://sentry.example.com', listen: '0.0.0.0:8080' },
    upstream: { url: 'http://127.0.0.1:9000', ingestUrl: 'http://127.0.0.1:3000' },
    ldap,
    nginx: { enabled: true },
    ...extra,
  };
}

/** caddy validate on the text as a whole Caddyfile: Caddy's own verdict. */
function caddyAccepts(text: string): { ok: boolean; output: string } {
  const d = mkdtempSync(join(dir, 'conf-'));
  writeFileSync(join(d, 'Caddyfile'), `{\n    admin off\n    auto_https off\n}\n${text}`);
  const env = { ...process.env, HOME: d, XDG_DATA_HOME: join(d, 'data'), XDG_CONFIG_HOME: join(d, 'config') };
  const r = spawnSync(CADDY, ['validate', '--config', join(d, 'Caddyfile'), '--adapter', 'caddyfile'], { encoding: 'utf8', env });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe('caddyConfig', () => {
  test('caddy accepts what is generated, with and without Relay and ingestion', () => {
    for (const c of [input(), input({ upstream: { url: 'http://127.0.0.1:9000' } }), input({ bypass: { ingestion: false } })]) {
      const r = caddyAccepts(caddyConfig(configSchema.parse(c)));
      assert.ok(r.ok, r.output);
    }
  });

  test('the assertion header, the cookie names and the decision path come from the config', () => {
    const text = caddyConfig(configSchema.parse(input({ assertion: { header: 'X-Our-Assertion' }, session: { cookieName: 'our_session' } })));
    assert.match(text, /request_header -X-Our-Assertion/);
    assert.match(text, /copy_headers X-Our-Assertion X-Sag-Route/);
    assert.match(text, /__Host-our_session\\s\*=/);
    assert.match(text, /uri \/_gateway\/auth\?style=forward/);
    assert.doesNotMatch(text, /X-Sentry-Gateway-Assertion/);
  });
});

describe('sentry-ad-gateway caddy-config', () => {
  const file = (doc: unknown) => writeConfigFile(dir, doc);

  test('prints the site block generated from the config file', async () => {
    await assertPrintsGenerated(dir, 'caddy-config', input(), caddyConfig);
  });

  test('refuses what it cannot make right: the mode off, a balancer in front, a decision cache', async () => {
    const cases: [NonNullable<ConfigInput['nginx']>, RegExp][] = [
      [{ enabled: false }, /nginx\.enabled is false/],
      [{ enabled: true, realIpFrom: ['10.0.0.5'] }, /nginx\.realIpFrom/],
      [{ enabled: true, decisionCache: '2s' }, /nginx\.decisionCache/],
    ];
    for (const [nginx, why] of cases) {
      const r = await runCli(['caddy-config', '--config', file(input({ nginx }))]);
      assert.equal(r.code, 1, JSON.stringify(nginx));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, why);
    }
  });
});
