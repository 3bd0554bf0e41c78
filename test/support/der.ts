// DER and GSS framing for hand-built Kerberos/SPNEGO tokens (authenticatorBytes, kerberosTokens): only the framing
// the gateway reads, so a test can cut, swap or pad one field.

/** One DER element: `tag`, a definite length (short or one/two-byte long form) and the concatenated `content`. */
export function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const len = body.length < 0x80 ? Buffer.from([body.length]) : body.length < 0x100 ? Buffer.from([0x81, body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
export const hex = (h: string) => Buffer.from(h, 'hex');
/** The encoded OIDs of the mechanisms (tag, length and value). */
export const SPNEGO = hex('06062b0601050502');
export const KRB5 = hex('06092a864886f712010202');
