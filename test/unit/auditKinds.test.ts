// Every second-factor and re-authentication event the gateway records can be picked in the console's audit filter, named in both languages.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { adminMessages, AUDIT_KINDS } from '../../src/http/admin/adminMessages.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

const recorded = new Set(
  sources('src').flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/kind: '((?:mfa|reauth)\.[a-z_]+)'/g)].map((m) => m[1]!)),
);

test('the sources record second-factor and re-authentication events (the scan finds them)', () => {
  for (const k of ['mfa.success', 'mfa.failure', 'mfa.enrolled', 'mfa.reset', 'reauth.refused']) assert.ok(recorded.has(k), k);
});

test('each is offered by the audit filter with a label in English and Chinese', () => {
  const labels = [adminMessages('en'), adminMessages('zh-CN')] as unknown as Record<string, string>[];
  for (const k of recorded) {
    assert.ok((AUDIT_KINDS as readonly string[]).includes(k), `${k} is offered`);
    for (const l of labels) assert.ok(l[`kind_${k}`], `${k} has a label in ${l.htmlLang ?? 'both languages'}`);
  }
});
