// Every kind of event the gateway records can be picked in the console's audit filter, named in English and Chinese,
// and a family filter finds its events: what an admin sees over HTTP, against the real DC and Redis.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { signedIn, startConsole, textOf, type ConsoleSetup } from '../support/adminHelpers.js';
import { decodeHtml, type Client } from '../support/gateway.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The kinds named in the `kind:` of every `.record({ … })` call, both sides of a `cond ? 'a.b' : 'c.d'` included. */
const recorded = new Set(
  sources('src').flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/\.record\(\{\s*kind:\s*([^,]+),/g)].flatMap((m) => [...m[1]!.matchAll(/'([a-z_]+(?:\.[a-z_]+)?)'/g)].map((k) => k[1]!)),
  ),
);

let s: ConsoleSetup;
let alice: Client;

before(async () => {
  s = await startConsole('console-audit-kinds');
  alice = await signedIn(s.t.url, 'alice', DEMO_PASSWORD);
});
after(() => s?.close());

async function filterOptions(lang: string): Promise<Map<string, string>> {
  const res = await alice.get(`/_gateway/admin/audit?lang=${lang}`);
  assert.equal(res.status, 200);
  const select = /<select id="f-kind"[^>]*>([\s\S]*?)<\/select>/.exec(await res.text())?.[1] ?? '';
  return new Map([...select.matchAll(/<option value="([^"]*)"[^>]*>([^<]*)<\/option>/g)].map((m) => [decodeHtml(m[1]!), decodeHtml(m[2]!)]));
}

test('the scan finds the events the sources record, one-line and multi-line calls alike', () => {
  for (const k of ['login.success', 'login.failure', 'reauth.success', 'logout', 'mfa.enrolled', 'key.rotated', 'provision.offboard', 'sync.run', 'bind_password.rotated', 'bind_password.rotation_failed', 'secret.reloaded']) {
    assert.ok(recorded.has(k), k);
  }
});

for (const lang of ['en', 'zh-CN']) {
  test(`the audit page in ${lang} offers every recorded kind, each with a name of its own`, async () => {
    const options = await filterOptions(lang);
    for (const k of recorded) {
      const label = options.get(k);
      assert.ok(label !== undefined, `${k} is offered in ${lang}`);
      assert.ok(label.trim() && label !== k, `${k} is named in ${lang} (shows “${label}”)`);
    }
    const names = [...options.values()];
    assert.equal(new Set(names).size, names.length, `no two options read the same in ${lang}`);
  });
}

test('the bind-password filter finds a recorded rotation, and only bind-password events', async () => {
  const actor = `rotation-check-${process.pid}`;
  s.t.gw.deps.audit.record({ kind: 'bind_password.rotated', actor, detail: { dc: 'dc1' } });
  s.t.gw.deps.audit.record({ kind: 'key.rotated', actor, detail: {} });
  const options = await filterOptions('en');
  const family = [...options.keys()].find((v) => /^bind[-_]password$/.test(v));
  assert.ok(family, 'the filter offers the bind-password family');
  // Recorded and read over the gateway's one Redis connection, so the write lands before the page's read.
  const html = await (await alice.get(`/_gateway/admin/audit?kind=${encodeURIComponent(family)}`)).text();
  const text = textOf(html);
  assert.ok(text.includes(`${options.get('bind_password.rotated') ?? 'bind_password.rotated'} ${actor}`), 'the rotation is listed');
  assert.ok(!text.includes(`${options.get('key.rotated') ?? 'key.rotated'} ${actor}`), 'a key rotation is not');
});
