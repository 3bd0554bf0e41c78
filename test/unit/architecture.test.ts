// Every import in src/ points down the house: http/ is reached only from the entry points, the low rooms (shared/,
// redis/, config/, errors.ts, the session adapter) import nothing above them, and src/ never reaches into test/, however the path is built.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Comments may name any file (a pointer for the reader is no dependency); code may not. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

interface Edge {
  /** Repository-relative, e.g. `src/shared/audit.ts`. */
  from: string;
  /** Repository-relative target with `.js` read as `.ts`, or the path-like text a computed path is built from. */
  to: string;
  line: number;
  how: 'import' | 'computed path';
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** A path assembled at run time (join, URL, an array of segments): any string that is, or holds, a `test` path segment. */
function testPathsIn(code: string): { path: string; index: number }[] {
  const literals = /(['"`])((?:(?!\1)[^\\\n]|\\.)*)\1/g;
  return [...code.matchAll(literals)]
    .filter((m) => m[2] === 'test' || /(^|\/)test\//.test(m[2]!))
    .map((m) => ({ path: m[2]!, index: m.index }));
}

function edgesOf(file: string): Edge[] {
  const from = relative(ROOT, file).split('\\').join('/');
  const text = withoutComments(readFileSync(file, 'utf8'));
  const edges: Edge[] = [];
  // Static `import … from`, `export … from`, bare `import '…'` and `import('…')` with a literal.
  const specifiers = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;
  for (const m of text.matchAll(specifiers)) {
    const target = relative(ROOT, resolve(dirname(file), m[2]!)).split('\\').join('/').replace(/\.js$/, '.ts');
    edges.push({ from, to: target, line: lineOf(text, m.index), how: 'import' });
  }
  for (const { path, index } of testPathsIn(text)) edges.push({ from, to: path, line: lineOf(text, index), how: 'computed path' });
  return edges;
}

const edges = sources(join(ROOT, 'src')).flatMap(edgesOf);

const inside = (path: string, room: string) => (room.endsWith('.ts') ? path === room : path.startsWith(`${room}/`));
const ours = (to: string) => to.startsWith('src/');

interface Rule {
  name: string;
  /** The message for an edge that breaks the rule, or undefined when it keeps it. */
  broken(e: Edge): string | undefined;
}

// The entry points: the server's (main, its app and composition root) and the command line's (cli.ts and one file per command).
const HTTP_ENTRY = ['src/app.ts', 'src/main.ts', 'src/compositionRoot.ts', 'src/cli.ts', 'src/cli'];

/** What each low room may import of ours: itself and the rooms below it. */
const LOW_ROOMS: { room: string; may: string[] }[] = [
  { room: 'src/errors.ts', may: [] },
  { room: 'src/shared', may: ['src/shared'] },
  { room: 'src/redis', may: ['src/redis'] },
  { room: 'src/config', may: ['src/config', 'src/shared', 'src/errors.ts'] },
  // The session adapter sits under the features (auth, mfa, mapping, provisioning) that use it.
  { room: 'src/session', may: ['src/session', 'src/redis', 'src/directory', 'src/config', 'src/shared', 'src/errors.ts'] },
];

const RULES: Rule[] = [
  {
    name: 'http/ is the top floor: only the entry points import it',
    broken: (e) =>
      e.how === 'import' && inside(e.to, 'src/http') && !inside(e.from, 'src/http') && !HTTP_ENTRY.some((r) => inside(e.from, r))
        ? `${e.from}:${e.line} imports ${e.to}: only ${HTTP_ENTRY.join(', ')} may import src/http/`
        : undefined,
  },
  ...LOW_ROOMS.map(
    ({ room, may }): Rule => ({
      name: `${room} imports nothing of ours above it`,
      broken: (e) =>
        e.how === 'import' && inside(e.from, room) && ours(e.to) && !may.some((r) => inside(e.to, r))
          ? `${e.from}:${e.line} imports ${e.to}: ${room} may import ${may.length ? may.join(', ') : 'nothing of ours'}; move what it needs down`
          : undefined,
    }),
  ),
  {
    name: 'src/ never depends on test/, by import or by a computed path',
    broken: (e) =>
      e.how === 'import' && inside(e.to, 'test')
        ? `${e.from}:${e.line} imports ${e.to}: src/ must not depend on test/`
        : e.how === 'computed path'
          ? `${e.from}:${e.line} builds a path through test/ ('${e.to}'): src/ must not depend on test/, even out of the compiler's sight`
          : undefined,
  },
];

test('the scan sees the imports, dynamic ones and computed test paths included', () => {
  const has = (from: string, to: string) => edges.some((e) => e.from === from && e.to === to);
  assert.ok(has('src/compositionRoot.ts', 'src/redis/createRedis.ts'), 'a static import');
  assert.ok(has('src/mfa/redisDurability.ts', 'src/redis/createRedis.ts'), 'a dynamic import with a literal path');
  assert.ok(edges.length > 300, `only ${edges.length} imports found`);
  const probe = (code: string) => testPathsIn(withoutComments(code)).length > 0;
  assert.ok(probe(`new URL(['..', '..', 'test', 'support', 'x.ts'].join('/'), import.meta.url)`), 'segments joined at run time');
  assert.ok(probe(`join(root, "test/support/x.ts")`), 'a path string');
  assert.ok(!probe(`// see test/support/x.ts\nconst latest = 'attest';`), 'comments and words that merely contain "test"');
});

for (const rule of RULES) {
  test(rule.name, () => {
    const broken = edges.map((e) => rule.broken(e)).filter((m): m is string => m !== undefined);
    assert.deepEqual(broken, [], `\n${broken.join('\n')}`);
  });
}
