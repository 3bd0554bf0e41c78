// Checks the repository's pages as a reader meets them: every relative link and #anchor leads
// somewhere, and every citation of the contract names a section docs/design.md has.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SKIP_DIRS = new Set(['node_modules', 'dist', 'test-artifacts']);
const SOURCE_EXT = /\.(ts|mts|js|mjs|cjs|py|md|ya?ml|sh|mustache|html|css|lua|txt|ldif)$|(^|\/)(Dockerfile|run)$/;
/** Citations of documents that are not in the repository; spelled in pieces so this file does not cite them. */
const OUTSIDE_DOCUMENTS = [new RegExp('\\b' + 'SP' + 'EC\\b'), new RegExp('\\b' + 'STY' + 'LE\\.md\\b')];
const CITATION = /docs\/design\.md §(\d+(?:\.\d+)*)/g;

/**
 * The repository's files: what git tracks plus new files it does not ignore, or, outside a git
 * checkout, a walk that skips dot-directories, dependencies and build output.
 */
export function repositoryFiles(root: string): string[] {
  try {
    const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return [...new Set(listed.split('\0').filter((f) => f && existsSync(join(root, f))))].sort();
  } catch {
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        if (name.startsWith('.') && name !== '.ci') continue;
        const full = join(dir, name);
        const stat = statSync(full, { throwIfNoEntry: false });
        if (stat?.isDirectory()) {
          if (!SKIP_DIRS.has(name)) walk(full);
        } else if (stat) out.push(relative(root, full));
      }
    };
    walk(root);
    return out.sort();
  }
}

/** The lines of a page outside fenced code blocks, with their line numbers. */
function proseLines(text: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, i) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      if (!fence) fence = m[1]![0]!;
      else if (m[1]![0] === fence) fence = undefined;
      return;
    }
    if (!fence) out.push({ line, n: i + 1 });
  });
  return out;
}

/** The anchor a heading gets where the pages are read: inline markup dropped, lower case, punctuation removed, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*~]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page offers, duplicates numbered as the renderer numbers them. */
export function pageAnchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { line } of proseLines(text)) {
    const m = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = headingSlug(m[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Relative links and anchors in every .md file that lead nowhere, as "file:line: target (why)". */
export function brokenLinks(root: string, files = repositoryFiles(root)): string[] {
  const problems: string[] = [];
  const anchorsOf = new Map<string, Set<string>>();
  const anchors = (file: string) => {
    let a = anchorsOf.get(file);
    if (!a) anchorsOf.set(file, (a = pageAnchors(readFileSync(file, 'utf8'))));
    return a;
  };
  for (const file of files.filter((f) => f.endsWith('.md'))) {
    const full = join(root, file);
    for (const { line, n } of proseLines(readFileSync(full, 'utf8'))) {
      const withoutCode = line.replace(/(`+)[^`]*?\1/g, '');
      for (const m of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
        const dest = pathPart === '' ? full : resolve(dirname(full), decodeURIComponent(pathPart));
        const where = `${file}:${n}: ${target}`;
        if (!dest.startsWith(resolve(root))) problems.push(`${where} (outside the repository)`);
        else if (!existsSync(dest)) problems.push(`${where} (no such file)`);
        else if (anchor !== undefined && dest.endsWith('.md') && !anchors(dest).has(decodeURIComponent(anchor)))
          problems.push(`${where} (no heading with that anchor)`);
      }
    }
  }
  return problems;
}

/** Citations of docs/design.md sections it does not have, and of documents outside the repository. */
export function badCitations(root: string, files = repositoryFiles(root)): string[] {
  const design = join(root, 'docs/design.md');
  const sections = new Set<string>();
  if (existsSync(design)) {
    for (const { line } of proseLines(readFileSync(design, 'utf8'))) {
      const m = /^#{2,6}\s+(\d+(?:\.\d+)*)[.\s]/.exec(line);
      if (m) sections.add(m[1]!);
    }
  }
  const problems: string[] = [];
  for (const file of files.filter((f) => SOURCE_EXT.test(f))) {
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const m of line.matchAll(CITATION))
          if (!sections.has(m[1]!)) problems.push(`${file}:${i + 1}: docs/design.md §${m[1]} (no such section)`);
        for (const outside of OUTSIDE_DOCUMENTS)
          if (outside.test(line)) problems.push(`${file}:${i + 1}: cites ${outside.exec(line)![0]}, which is not in the repository`);
      });
  }
  return problems;
}
