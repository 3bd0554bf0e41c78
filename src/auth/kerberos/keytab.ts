// Reads what a keytab holds (principal, kvno, enctype of each key), never the keys, so check-config can say
// whether auth.kerberos.keytabFile fits auth.kerberos.servicePrincipal before a browser finds out.
//
// The MIT file format, version 0x0502 (what ktpass, samba-tool exportkeytab and ktutil write), all big-endian:
//   u16 0x0502, then entries: i32 size (negative: a hole of that many bytes, skipped), then within size:
//   u16 component count, counted realm, counted components, u32 name type, u32 timestamp, u8 kvno,
//   u16 enctype, counted key, and, if at least 4 bytes remain, a u32 kvno that replaces the 8-bit one unless 0.
//   A counted string is u16 length + bytes.
import { readFile } from 'node:fs/promises';

export interface KeytabEntry {
  /** `HTTP/sentry.example.com@CORP.EXAMPLE.COM` */
  principal: string;
  kvno: number;
  enctype: number;
  /** The name MIT Kerberos gives the enctype (klist -e), or `enctype <n>`. */
  enctypeName: string;
  timestamp: Date;
}

export type KeytabProblem = 'missing' | 'unreadable' | 'empty' | 'not_keytab' | 'truncated';

export class KeytabError extends Error {
  constructor(
    readonly problem: KeytabProblem,
    message: string,
  ) {
    super(message);
    this.name = 'KeytabError';
  }
}

const ENCTYPES: Record<number, string> = {
  1: 'des-cbc-crc',
  3: 'des-cbc-md5',
  16: 'des3-cbc-sha1',
  17: 'aes128-cts-hmac-sha1-96',
  18: 'aes256-cts-hmac-sha1-96',
  19: 'aes128-cts-hmac-sha256-128',
  20: 'aes256-cts-hmac-sha384-192',
  23: 'arcfour-hmac',
  24: 'arcfour-hmac-exp',
  25: 'camellia128-cts-cmac',
  26: 'camellia256-cts-cmac',
};

/** AES enctypes (RFC 3962, RFC 8009): what a service account should have; RC4 and DES are off by default in current AD. */
export function isAesEnctype(enctype: number): boolean {
  return enctype >= 17 && enctype <= 20;
}

export function enctypeName(enctype: number): string {
  return ENCTYPES[enctype] ?? `enctype ${enctype}`;
}

/** Parses keytab bytes; `file` only names it in errors. */
export function parseKeytab(buf: Buffer, file = 'keytab'): KeytabEntry[] {
  if (buf.length === 0) throw new KeytabError('empty', `${file} is empty`);
  if (buf.length < 2 || buf[0] !== 0x05) throw new KeytabError('not_keytab', `${file} is not a keytab (it does not start with 0x05 0x02)`);
  if (buf[1] !== 0x02) throw new KeytabError('not_keytab', `${file} is a keytab of version 0x05${buf[1]!.toString(16).padStart(2, '0')}; only 0x0502 (what ktpass and samba-tool write) is read`);
  const truncated = (where: string) => new KeytabError('truncated', `${file} is truncated or damaged (${where})`);
  const entries: KeytabEntry[] = [];
  let pos = 2;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw truncated(`entry length at byte ${pos}`);
    const size = buf.readInt32BE(pos);
    pos += 4;
    if (size < 0) {
      // A hole left by a removed entry.
      if (pos - size > buf.length) throw truncated(`hole at byte ${pos - 4}`);
      pos -= size;
      continue;
    }
    if (size === 0) break; // zero-filled tail some writers leave
    const end = pos + size;
    if (end > buf.length) throw truncated(`entry at byte ${pos - 4} claims ${size} bytes, ${buf.length - pos} remain`);
    let p = pos;
    const need = (n: number, what: string) => {
      if (p + n > end) throw truncated(`${what} at byte ${p}`);
    };
    const u16 = (what: string) => {
      need(2, what);
      const v = buf.readUInt16BE(p);
      p += 2;
      return v;
    };
    const counted = (what: string) => {
      const n = u16(what);
      need(n, what);
      const s = buf.subarray(p, p + n);
      p += n;
      return s;
    };
    const count = u16('component count');
    const realm = counted('realm').toString('utf8');
    const components: string[] = [];
    for (let i = 0; i < count; i++) components.push(counted('principal component').toString('utf8'));
    need(4 + 4 + 1, 'name type, timestamp and kvno');
    p += 4; // name type
    const timestamp = new Date(buf.readUInt32BE(p) * 1000);
    p += 4;
    let kvno = buf.readUInt8(p);
    p += 1;
    const enctype = u16('enctype');
    const keyLength = u16('key length');
    need(keyLength, 'key');
    p += keyLength; // the key itself is never read
    if (end - p >= 4) {
      const kvno32 = buf.readUInt32BE(p);
      if (kvno32 !== 0) kvno = kvno32;
    }
    if (count === 0) throw new KeytabError('not_keytab', `${file} is damaged: an entry at byte ${pos - 4} names no principal`);
    entries.push({ principal: `${components.join('/')}@${realm}`, kvno, enctype, enctypeName: enctypeName(enctype), timestamp });
    pos = end;
  }
  if (!entries.length) throw new KeytabError('empty', `${file} holds no keys`);
  return entries;
}

/** Reads and parses a keytab file, with an error that says which of missing, unreadable, empty or not a keytab. */
export async function readKeytab(file: string): Promise<KeytabEntry[]> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeytabError('missing', `keytab not found: ${file}`);
    throw new KeytabError('unreadable', `keytab not readable: ${file} (${code ?? (e as Error).message})`);
  }
  return parseKeytab(buf, file);
}

/** The entries for one principal (`HTTP/host@REALM`), grouped as kvno → enctype names, for a message. */
export function describeKeys(entries: readonly KeytabEntry[], principal: string): string {
  const byKvno = new Map<number, string[]>();
  for (const e of entries) if (e.principal === principal) byKvno.set(e.kvno, [...(byKvno.get(e.kvno) ?? []), e.enctypeName]);
  return [...byKvno.entries()]
    .sort(([a], [b]) => a - b)
    .map(([kvno, names]) => `kvno ${kvno} (${names.join(', ')})`)
    .join('; ');
}
