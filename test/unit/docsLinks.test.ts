// The pages hold together: every relative link and #anchor in every .md file leads somewhere, and
// every citation of the contract names a section docs/design.md has (docs/design.md §13.5).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { badCitations, brokenLinks, headingSlug } from '../support/checkDocs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
/** A citation spelled so that this file does not itself cite the section. */
const cite = (section: string) => 'docs/design.md ' + '§' + section;

test('every relative link and anchor in the repository\'s pages leads to a file and a heading that exist', () => {
  assert.deepEqual(brokenLinks(ROOT), []);
});

test('every docs/design.md citation names a section it has, and nothing cites a document outside the repository', () => {
  assert.deepEqual(badCitations(ROOT), []);
});

test('the README is a front door: under 20 KB, the two commands first, and npm test as the test command', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.ok(Buffer.byteLength(readme) < 20 * 1024, `README.md is ${Buffer.byteLength(readme)} bytes`);
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  assert.match(firstBlock, /^npm run demo\b.*\nnpm test\b/m);
});

test('anchors are made as the pages are rendered: code, Chinese and punctuation', () => {
  assert.equal(headingSlug('1. Where the gateway sits'), '1-where-the-gateway-sits');
  assert.equal(headingSlug("4. The provisioner's service user and token"), '4-the-provisioners-service-user-and-token');
  assert.equal(headingSlug('What `check-config` refuses'), 'what-check-config-refuses');
  assert.equal(headingSlug('Redis: one server, Sentinel or Cluster'), 'redis-one-server-sentinel-or-cluster');
  assert.equal(headingSlug('第二因素（管理员）'), '第二因素管理员');
  assert.equal(headingSlug('The `mfa.keyFile` and [its rotation](x.md)'), 'the-mfakeyfile-and-its-rotation');
});

test('a broken link, a missing anchor, a missing section and a citation of an outside document are each reported', () => {
  const root = mkdtempSync(join(tmpdir(), 'sag-docs-'));
  try {
    mkdirSync(join(root, 'docs'));
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'docs/design.md'), '# Design\n\n## 6. Requests\n\n### 6.1 Order\n');
    writeFileSync(
      join(root, 'docs/page.md'),
      [
        '# Page',
        '## Second factor',
        'Fine: [design](design.md#6-requests), [here](#second-factor), [site](https://example.com/x.md).',
        'Broken: [gone](operating.md), [anchor](design.md#7-nothing).',
        '```sh',
        '# not a heading, and [not a link](nowhere.md)',
        '```',
        'Code is not a link: `[x](nowhere.md)`.',
      ].join('\n'),
    );
    writeFileSync(
      join(root, 'src/a.ts'),
      [`// fine (${cite('6')}), (${cite('6.1')})`, `// missing (${cite('12')})`, '// outside (' + 'SP' + 'EC §6)'].join('\n'),
    );
    assert.deepEqual(brokenLinks(root), [
      'docs/page.md:4: operating.md (no such file)',
      'docs/page.md:4: design.md#7-nothing (no heading with that anchor)',
    ]);
    assert.deepEqual(badCitations(root), [
      `src/a.ts:2: ${cite('12')} (no such section)`,
      'src/a.ts:3: cites ' + 'SP' + 'EC, which is not in the repository',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
