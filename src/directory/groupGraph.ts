// Works out nested group membership from group entries and their memberOf, with the chain that explains each.
import type { Entry } from 'ldapts';
import type { DirectoryGroup } from './directory.js';
import { decodeSid } from './sid.js';
import { dnKey, firstBuffer, str, strings } from './ldapValues.js';

export interface GroupNode {
  dn: string;
  name: string;
  sid: string;
  parents: string[];
}

export function indexGroups(entries: Entry[]): Map<string, GroupNode> {
  const byDn = new Map<string, GroupNode>();
  for (const e of entries) {
    const sidBuf = firstBuffer(e['objectSid']);
    if (!sidBuf) continue;
    byDn.set(dnKey(e.dn), { dn: e.dn, name: str(e['sAMAccountName']) || str(e['cn']), sid: decodeSid(sidBuf), parents: strings(e['memberOf']) });
  }
  return byDn;
}

/**
 * Breadth-first from the direct groups (and the primary group), so each path is a shortest chain.
 * With `keepUnreached`, groups in the index that no chain reaches still count (tokenGroups said so).
 */
export function resolveGroups(byDn: Map<string, GroupNode>, directDns: string[], primarySid: string | undefined, keepUnreached: boolean): DirectoryGroup[] {
  const paths = new Map<string, string[]>();
  const queue: string[] = [];
  for (const d of directDns) {
    const k = dnKey(d);
    const node = byDn.get(k);
    if (node && !paths.has(k)) {
      paths.set(k, [node.name]);
      queue.push(k);
    }
  }
  if (primarySid) {
    for (const [k, n] of byDn) {
      if (n.sid === primarySid && !paths.has(k)) {
        paths.set(k, ['primary group']);
        queue.push(k);
      }
    }
  }
  for (let i = 0; i < queue.length; i++) {
    const k = queue[i]!;
    const base = paths.get(k)!;
    for (const p of byDn.get(k)!.parents) {
      const pk = dnKey(p);
      const parent = byDn.get(pk);
      if (parent && !paths.has(pk)) {
        paths.set(pk, [...base, parent.name]);
        queue.push(pk);
      }
    }
  }
  const out: DirectoryGroup[] = [];
  for (const [k, n] of keepUnreached ? byDn : new Map([...paths.keys()].map((k) => [k, byDn.get(k)!]))) {
    // A token group we cannot chain (e.g. through a foreign principal) still counts.
    out.push({ dn: n.dn, name: n.name, sid: n.sid, path: paths.get(k) ?? [n.name] });
  }
  out.sort((a, b) => a.path.length - b.path.length || a.name.localeCompare(b.name));
  return out;
}
