// Reading LDAP attribute values as ldapts returns them (string, Buffer, or arrays of either).
import type { Entry } from 'ldapts';

/** DNs from different attributes may differ in case; AD compares them case-insensitively. */
export function dnKey(dn: string): string {
  return dn.toLowerCase();
}

export type Attr = Entry[string];

export function first(v: Attr | undefined): string | Buffer | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function str(v: Attr | undefined): string {
  const f = first(v);
  return f === undefined ? '' : typeof f === 'string' ? f : f.toString('utf8');
}

export function strings(v: Attr | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? x : x.toString('utf8')));
}

export function buffers(v: Attr | undefined): Buffer[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is Buffer => Buffer.isBuffer(x));
}

export function firstBuffer(v: Attr | undefined): Buffer | undefined {
  const f = first(v);
  return Buffer.isBuffer(f) ? f : undefined;
}

export function bigint(v: Attr | undefined): bigint | undefined {
  const s = str(v);
  if (!/^-?\d+$/.test(s)) return undefined;
  return BigInt(s);
}
