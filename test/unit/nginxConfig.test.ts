// The generated nginx configuration: what it is made from, that nginx itself accepts it, and the command that prints it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { checkNginxConfig } from '../../src/nginx/checkNginxConfig.js';
import { gatewayUrlOf, nginxConfig } from '../../src/nginx/nginxConfig.js';
import { runCli } from '../support/cli.js';
import { assertPrintsGenerated, configScratch, writeConfigFile } from '../support/proxyConfigCli.js';
import { NGINX } from '../support/nginx.js';

const { dir, ldap } = configScratch('nginx-config');

function input(extra: Partial<ConfigInput> = {}): ConfigInput {
  return {
    server: { publicUrl: 'https://sentry.example.com', listen: '0.0.0.0:8080' },
    upstream: { url: 'http://sentry-web:9000', ingestUrl: 'http://relay:3000' },
    ldap,
    nginx: { enabled: true, realIpFrom: ['10.0.0.5'] },
    ...extra,
  };
}

/** nginx -t on the text, included in an http block as an operator would: nginx's own verdict. */
function nginxAccepts(text: string): { ok: boolean; output: string } {
  const d = mkdtempSync(join(dir, 'conf-'));
  writeFileSync(join(d, 'gw.conf'), text);
  // Upstream host names must resolve for -t: the test names them by address.
  writeFileSync(join(d, 'nginx.conf'), `error_log ${join(d, 'error.log')};\nevents {}\nhttp {\n  include ${join(d, 'gw.conf')};\n}\n`);
  const r = spawnSync(NGINX, ['-t', '-p', d, '-c', join(d, 'nginx.conf'), '-g', `pid ${join(d, 'nginx.pid')};`], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe('nginxConfig', () => {
  const byAddress = input({ upstream: { url: 'http://127.0.0.1:9000', ingestUrl: 'http://127.0.0.1:3000' } });

  test('nginx accepts what is generated, with and without Relay and ingestion', () => {
    for (const c of [byAddress, { ...byAddress, upstream: { url: 'http://127.0.0.1:9000' } }, { ...byAddress, bypass: { ingestion: false } }]) {
      const r = nginxAccepts(nginxConfig(configSchema.parse(c)));
      assert.ok(r.ok, r.output);
    }
  });

  test('on https every name of the gateway cookies is stripped, and the session cookie is read as __Host-sag_session', () => {
    const text = nginxConfig(configSchema.parse(byAddress));
    for (const name of ['__Host-sag_session', 'sag_session', '__Host-sag_csrf', 'sag_csrf']) assert.match(text, new RegExp(`\\]\\*${name}\\[ \\\\t\\]\\*=\\[\\^;\\]\\*`), name);
    assert.doesNotMatch(text, /\$cookie_/, 'never $cookie___Host-…: nginx reads that as a cookie named __Host');
  });

  test('the assertion header comes from the decision only, under the configured name', () => {
    const text = nginxConfig(configSchema.parse({ ...byAddress, assertion: { header: 'X-Our-Assertion' } }));
    assert.match(text, /auth_request_set \$sag_assertion \$upstream_http_x_our_assertion;/);
    assert.match(text, /proxy_set_header X-Our-Assertion \$sag_assertion;/);
    assert.match(text, /underscores_in_headers off;/);
  });

  test('only the load balancer is believed for the client address', () => {
    const text = nginxConfig(configSchema.parse(byAddress));
    assert.deepEqual(text.match(/set_real_ip_from .*;/g), ['set_real_ip_from 10.0.0.5;']);
    assert.doesNotMatch(nginxConfig(configSchema.parse({ ...byAddress, nginx: { enabled: true } })), /set_real_ip_from|real_ip_header/);
  });

  test('the gateway is reached on loopback when it listens on every address', () => {
    assert.equal(gatewayUrlOf(configSchema.parse(input())), 'http://127.0.0.1:8080');
    assert.equal(gatewayUrlOf(configSchema.parse(input({ server: { publicUrl: 'https://s.example.com', listen: '[::]:8080' } }))), 'http://[::1]:8080');
    assert.equal(gatewayUrlOf(configSchema.parse(input({ nginx: { enabled: true, gatewayUrl: 'http://gateway:8080/' } }))), 'http://gateway:8080');
  });
});

describe('sentry-ad-gateway nginx-config', () => {
  const file = (doc: unknown) => writeConfigFile(dir, doc);

  test('prints the configuration generated from the config file', async () => {
    await assertPrintsGenerated(dir, 'nginx-config', input(), nginxConfig);
  });

  test('refuses while nginx.enabled is false: the gateway would answer no decision', async () => {
    const r = await runCli(['nginx-config', '--config', file(input({ nginx: { enabled: false } }))]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /nginx\.enabled is false/);
  });
});

// The mistakes people make writing an auth_request configuration by hand, each of which lets something through.
const HAND_WRITTEN = `
map $cookie___Host-sag_session $sid { default $cookie___Host-sag_session; }
server {
    listen 443 ssl;
    underscores_in_headers on;
    set_real_ip_from 0.0.0.0/0;
    location /_gateway/auth {
        proxy_pass http://127.0.0.1:8080;
        proxy_set_header X-Sag-Method $request_method;
        proxy_set_header X-Sag-Uri $uri;
        proxy_cache decisions;
        proxy_cache_valid 200 401 10s;
        proxy_cache_use_stale error;
    }
    location ~ ^/api/[1-9][0-9]*/ {
        proxy_pass http://relay:3000;
    }
    location /legacy/ {
        proxy_pass http://web:9000;
    }
    location / {
        auth_request /_gateway/auth;
        auth_request_set $a $upstream_http_x_sentry_gateway_assertion;
        proxy_set_header X-Sentry-Gateway-Assertion $http_x_sentry_gateway_assertion;
        proxy_pass http://web:9000;
    }
}
`;

describe('nginx-config --check', () => {
  const config = configSchema.parse(input({ upstream: { url: 'http://127.0.0.1:9000', ingestUrl: 'http://127.0.0.1:3000' } }));

  test('the generated configuration has nothing wrong with it, with and without the decision cache', () => {
    assert.deepEqual(checkNginxConfig(nginxConfig(config), config), []);
    const cached = configSchema.parse(input({ nginx: { enabled: true, decisionCache: '3s' } }));
    assert.deepEqual(checkNginxConfig(nginxConfig(cached), cached), []);
  });

  test('a hand-written one is told each mistake, on its line', () => {
    const problems = checkNginxConfig(HAND_WRITTEN, config);
    const said = (re: RegExp) => [...new Set(problems.filter((p) => re.test(p.message)).map((p) => p.line))];
    assert.deepEqual(said(/reads a cookie named __Host/), [2]);
    assert.deepEqual(said(/underscores_in_headers on/), [5]);
    assert.deepEqual(said(/set_real_ip_from 0\.0\.0\.0\/0/), [6]);
    assert.deepEqual(said(/\/_gateway\/auth is not internal/), [7]);
    assert.deepEqual(said(/is a prefix/), [7]);
    assert.deepEqual(said(/x-sag-uri must be \$request_uri/), [10]);
    assert.deepEqual(said(/not sent x-sag-connection/), [7]);
    assert.deepEqual(said(/only a 200 decision/), [12]);
    assert.deepEqual(said(/proxy_cache_use_stale must be off/), [13]);
    assert.deepEqual(said(/no proxy_no_cache/), [7]);
    assert.deepEqual(said(/never checks the raw \$request_uri/), [15]);
    assert.deepEqual(said(/keeps Cookie/), [15]);
    assert.deepEqual(said(/\/legacy\/ forwards to Sentry without asking/), [18]);
    assert.deepEqual(said(/is set from \$http_x_sentry_gateway_assertion/), [24]);
    assert.ok(problems.every((p) => p.severity === 'error' || p.severity === 'warning'));
  });

  test('only the refusal page\'s own re-ask is taken for a location that goes to the gateway; any other rewrite to the decision is checked', () => {
    const generated = nginxConfig(config);
    const withServer = (body: string) => {
      const text = `${generated}server {\n    listen 127.0.0.1:8081;\n${body}}\n`;
      const first = generated.split('\n').length + 1;
      return checkNginxConfig(text, config).filter((p) => p.line > first && /without asking/.test(p.message)).map((p) => p.message);
    };
    const reask = (over: { name?: string; rewrite?: string; pass?: string; hide?: boolean }) =>
      `    location ${over.name ?? '@denied'} {\n        rewrite ${over.rewrite ?? '^ /_gateway/auth?style=forward? break'};\n        proxy_pass ${over.pass ?? 'http://sag_gateway'};\n` +
      `        proxy_set_header X-Sentry-Gateway-Assertion "";\n${over.hide === false ? '' : '        proxy_hide_header X-Sentry-Gateway-Assertion;\n'}    }\n`;
    assert.deepEqual(withServer('    location / {\n        rewrite ^/never$ /_gateway/auth break;\n        proxy_pass http://sentry;\n    }\n'), ['location / forwards to Sentry without asking /_gateway/auth']);
    assert.deepEqual(withServer(reask({})), [], 'the generated shape, by upstream name');
    assert.deepEqual(withServer(reask({ pass: 'http://127.0.0.1:8080' })), [], "by the gateway's URL");
    for (const [what, over] of [
      ['not a named location', { name: '/' }],
      ['the query appended', { rewrite: '^ /_gateway/auth?style=forward break' }],
      ['another rewrite', { rewrite: '^/x$ /_gateway/auth?style=forward? break' }],
      ['to Sentry', { pass: 'http://sag_sentry' }],
      ['the assertion not hidden', { hide: false }],
    ] as const) {
      assert.equal(withServer(reask(over)).length, 1, what);
    }
  });

  test('an ingestion location checks the raw target when its `if` reads $request_uri through maps, and not when the maps never do', () => {
    const ingestion = (maps: string, test: string) =>
      checkNginxConfig(
        `${maps}server {\n    location ~ ^/api/[1-9][0-9]*/ {\n        if (${test}) {\n            return 400;\n        }\n        proxy_set_header Cookie "";\n        proxy_pass http://relay:3000;\n    }\n}\n`,
        config,
      ).filter((p) => /never checks the raw/.test(p.message)).length;
    assert.equal(ingestion('map $request_uri $raw { ~^/api/ 1; default 0; }\nmap "$raw$http_x" $refused { 10 0; default 1; }\n', '$refused'), 0, 'two maps deep');
    assert.equal(ingestion('map $uri $normalised { ~^/api/ 1; default 0; }\nmap "$normalised" $refused { 1 0; default 1; }\n', '$refused'), 1, 'maps of the normalised $uri');
    assert.equal(ingestion('map $a $b { default $c; }\nmap $b $c { default $b; }\n', '$b'), 1, 'maps that read each other, and nothing else');
    assert.equal(ingestion('', '$request_uri_x'), 1, 'a variable whose name only starts like it');
    assert.equal(ingestion('map $request_uri $never { ~^/x 0; default 0; }\n', '$never'), 1, 'a map of $request_uri whose every entry gives its default');
    assert.equal(ingestion('map $uri $sag_ingest_raw { ~^/api/ 1; default 0; }\n', '$sag_ingest_raw = 0'), 1, 'the generated name, defined here from the normalised $uri');
    assert.equal(ingestion('', '$sag_ingest_raw = 0'), 0, 'the generated name, defined in a file this one does not show');
    const noRefusal = checkNginxConfig(
      'server {\n    location ~ ^/api/[1-9][0-9]*/ {\n        if ($request_uri = "") {\n            set $x 1;\n        }\n        proxy_set_header Cookie "";\n        proxy_pass http://relay:3000;\n    }\n}\n',
      config,
    );
    assert.equal(noRefusal.filter((p) => /never checks the raw/.test(p.message)).length, 1, 'an if that reads the raw target but refuses nothing');
  });

  test('the command exits 1 on a hand-written mistake and 0 on the generated file', async () => {
    const cfg = join(dir, 'check.yaml');
    writeFileSync(cfg, stringify(input()));
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, HAND_WRITTEN);
    const r = await runCli(['nginx-config', '--config', cfg, '--check', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`${bad}:5: error: underscores_in_headers on`));
    const good = join(dir, 'good.conf');
    writeFileSync(good, nginxConfig(configSchema.parse(input())));
    const ok = await runCli(['nginx-config', '--config', cfg, '--check', good]);
    assert.equal(ok.code, 0, ok.stdout);
  });
});
