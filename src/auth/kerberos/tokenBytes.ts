// What can be told about a Negotiate token from its bytes alone, before GSSAPI sees it: not base64, truncated, NTLM.
// Only the GSS/SPNEGO framing is read (authenticatorBytes.ts); Kerberos itself is left to the system's GSSAPI.
import { authenticatorCipher, readDer } from './authenticatorBytes.js';

/** A Negotiate token longer than this is malformed without calling GSSAPI (a real one is a few KiB, PAC included). */
export const MAX_TOKEN_CHARS = 64 * 1024;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const NTLMSSP = Buffer.from('NTLMSSP\0', 'latin1');
// DER of the mechanism OIDs (tag 06, length, value).
const OID_SPNEGO = Buffer.from('06062b0601050502', 'hex'); // 1.3.6.1.5.5.2
const OID_NTLM = Buffer.from('060a2b06010401823702020a', 'hex'); // 1.3.6.1.4.1.311.2.2.10
const OID_KRB5 = Buffer.from('06092a864886f712010202', 'hex'); // 1.2.840.113554.1.2.2
const OID_KRB5_MS = Buffer.from('06092a864882f712010202', 'hex'); // 1.2.840.48018.1.2.2 (Windows' variant)
const OID_KRB5_USER = Buffer.from('060a2a864886f71201020203', 'hex'); // 1.2.840.113554.1.2.2.3 (user-to-user)

/**
 * `malformed`: not strict base64 (one spelling only: re-encoding gives the same text), empty, too long, a first
 * DER element whose length is not the token's (a truncated token) or is not written in its shortest form, or a
 * Kerberos token whose authenticator cannot be located (the replay cache keys on it); `ntlm`: a raw NTLMSSP
 * message, or SPNEGO that names NTLM and no Kerberos mechanism. Otherwise GSSAPI decides, and `authenticator` is
 * the AP-REQ's encrypted authenticator (the replay cache's key), found in the same pass.
 */
export function readTokenBytes(token: string): { refused: 'malformed' | 'ntlm' } | { authenticator: Buffer } {
  const malformed = { refused: 'malformed' } as const;
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS || token.length % 4 !== 0 || !BASE64.test(token)) return malformed;
  const bytes = Buffer.from(token, 'base64');
  // Decoders ignore the unused bits of the last character (`QQ==` and `QR==` are the same byte): only one spelling.
  if (bytes.toString('base64') !== token) return malformed;
  if (bytes.subarray(0, NTLMSSP.length).equals(NTLMSSP)) return { refused: 'ntlm' };
  // 0x60: GSS InitialContextToken (Kerberos or SPNEGO NegTokenInit); 0xa1: SPNEGO NegTokenResp.
  if (bytes[0] !== 0x60 && bytes[0] !== 0xa1) return malformed;
  if (readDer(bytes, 0)?.end !== bytes.length) return malformed;
  const kerberos = [OID_KRB5, OID_KRB5_MS, OID_KRB5_USER].some((oid) => bytes.includes(oid));
  if (!kerberos && (bytes.includes(OID_NTLM) || bytes.includes(NTLMSSP))) return { refused: 'ntlm' };
  if (bytes[0] === 0x60 && !kerberos && !bytes.includes(OID_SPNEGO)) return malformed;
  const authenticator = authenticatorCipher(bytes);
  return authenticator ? { authenticator } : malformed;
}

/** readTokenBytes's verdict alone: null when GSSAPI decides. */
export function classifyTokenBytes(token: string): 'malformed' | 'ntlm' | null {
  const read = readTokenBytes(token);
  return 'refused' in read ? read.refused : null;
}
