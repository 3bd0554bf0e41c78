// Where GSSAPI reads the service keys from: a private copy of auth.kerberos.keytabFile when there is a writable
// place for one, else the file itself. The copy is what makes a rotation safe (a half-written file on disk is never
// read); the documented container runs read_only with no /tmp, and Docker keeps /dev/shm writable there, so that is
// the second place tried. With neither, Kerberos still works from the file in place, and the operator is told what
// that costs.
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type KeytabPlace =
  | { how: 'copy'; dir: string; keytab: string }
  | { how: 'in place'; keytab: string; warning: string };

/** The places tried for the private copy, in order. */
export function keytabParents(): string[] {
  return [...new Set([tmpdir(), '/dev/shm'])];
}

const STALE = /^sag-keytab-(\d+)-[^/]+$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists and belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the copies earlier gateways left in `parent` when they died without closing (SIGKILL, OOM): only
 * directories named `sag-keytab-<pid>-*` by us, owned by our uid, whose pid no longer runs.
 */
export function removeStaleKeytabDirs(parent: string): string[] {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    const m = STALE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    const path = join(parent, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Gone already, or not ours to remove: left as it is.
    }
  }
  return removed;
}

/**
 * Makes the private directory for the keytab copy in the first of `parents` that takes one, or says the keytab is
 * read in place. `clean` removes stale copies first (serve does; check-config only looks).
 */
export function placeKeytab(source: string, parents: readonly string[] = keytabParents(), clean = true): KeytabPlace {
  const refused: string[] = [];
  for (const parent of parents) {
    if (clean) removeStaleKeytabDirs(parent);
    try {
      const dir = mkdtempSync(join(parent, `sag-keytab-${process.pid}-`));
      return { how: 'copy', dir, keytab: join(dir, 'keytab') };
    } catch (e) {
      refused.push(`${parent}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return {
    how: 'in place',
    keytab: source,
    warning:
      `no writable place for a private copy of the keytab (${refused.join('; ')}): GSSAPI reads ${source} in place, ` +
      'so a half-written file there is seen as is; replace it by writing beside it and renaming over it, or give the gateway a writable /dev/shm or TMPDIR',
  };
}

/** One line for the log and check-config: where the keys are read from. */
export function describeKeytabPlace(place: KeytabPlace): string {
  return place.how === 'copy' ? `a private copy in ${place.dir}` : `the file in place (${place.keytab})`;
}
