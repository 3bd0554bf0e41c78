// Each language's catalogue has the same keys and placeholders as English, and sends readers to the docs tree, not the README.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { en, type Catalogue } from '../../src/http/messages/en.js';
import { zhCN } from '../../src/http/messages/zh-CN.js';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('zh-CN has every key en has, with the same placeholders', () => {
  for (const part of Object.keys(en) as (keyof Catalogue)[]) {
    const a = en[part] as Record<string, string>;
    const b = zhCN[part] as Record<string, string>;
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort(), part);
    for (const k of Object.keys(a)) assert.deepEqual(placeholders(b[k]!), placeholders(a[k]!), `${part}.${k}`);
  }
});

test('no text sends a reader to the README; the lockout advice names its page in the docs', () => {
  for (const [lang, c] of [['en', en], ['zh-CN', zhCN]] as const) {
    for (const [part, texts] of Object.entries(c)) {
      for (const [k, v] of Object.entries(texts as Record<string, string>)) assert.doesNotMatch(v, /README/, `${lang} ${part}.${k}`);
    }
    assert.match(c.admin.lockoutUnreadable, /docs\/operating\.md/, lang);
  }
});
