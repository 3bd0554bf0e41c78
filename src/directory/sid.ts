// Binary SID and GUID decoding: AD returns both as raw bytes, in layouts that are easy to get wrong.

/** objectSid / tokenGroups bytes → "S-1-5-21-…". */
export function decodeSid(buf: Buffer): string {
  if (buf.length < 8) throw new TypeError('SID too short');
  const revision = buf.readUInt8(0);
  const count = buf.readUInt8(1);
  if (buf.length !== 8 + 4 * count) throw new TypeError('SID length does not match its sub-authority count');
  // The identifier authority is 48-bit big-endian, while sub-authorities are 32-bit little-endian.
  const authority = buf.readUIntBE(2, 6);
  const parts = [`S-${revision}-${authority}`];
  for (let i = 0; i < count; i++) parts.push(String(buf.readUInt32LE(8 + 4 * i)));
  return parts.join('-');
}

/** "S-1-5-21-…" → the bytes AD stores, e.g. to search for a SID with an equality filter. */
export function encodeSid(sid: string): Buffer {
  const m = /^S-(\d+)-(\d+)((?:-\d+)*)$/i.exec(sid);
  if (!m) throw new TypeError('not a SID string');
  const subs = m[3] ? m[3].slice(1).split('-').map(Number) : [];
  const buf = Buffer.alloc(8 + 4 * subs.length);
  buf.writeUInt8(Number(m[1]), 0);
  buf.writeUInt8(subs.length, 1);
  buf.writeUIntBE(Number(m[2]), 2, 6);
  subs.forEach((s, i) => buf.writeUInt32LE(s, 8 + 4 * i));
  return buf;
}

/** The SID of the account's primary group: the account's domain SID with primaryGroupID as RID. */
export function primaryGroupSid(userSid: string, primaryGroupId: number): string {
  return userSid.replace(/-\d+$/, '') + '-' + String(primaryGroupId);
}

/**
 * objectGUID bytes → canonical "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". AD stores the first three
 * fields little-endian and the last two as plain bytes, so a naive hex dump gives a different id
 * than every Microsoft tool shows.
 */
export function decodeGuid(buf: Buffer): string {
  if (buf.length !== 16) throw new TypeError('GUID must be 16 bytes');
  const h = (b: Buffer) => b.toString('hex');
  const rev = (start: number, end: number) => h(Buffer.from(buf.subarray(start, end)).reverse());
  return `${rev(0, 4)}-${rev(4, 6)}-${rev(6, 8)}-${h(buf.subarray(8, 10))}-${h(buf.subarray(10, 16))}`;
}
