// Where a Negotiate token's Kerberos authenticator is: the bytes the replay cache keys on.
//
// Only DER framing is walked (tags, minimal lengths, bounds); nothing Kerberos means is read. The same
// authenticator can travel bare or in SPNEGO, and base64 and DER each have more than one spelling of the same
// bytes, so the token's text is no key: the encrypted authenticator is, and it is the same in every wrapping.

/** One DER element: its tag, and where its content starts and ends in the buffer it was read from. */
export interface DerElement {
  tag: number;
  start: number;
  end: number;
}

/**
 * The element at `at`, within `limit`, or null: a multi-byte tag, an indefinite or non-minimal length (DER has
 * one spelling of each length), or content that runs past `limit`.
 */
export function readDer(bytes: Uint8Array, at: number, limit = bytes.length): DerElement | null {
  if (at + 2 > limit) return null;
  const tag = bytes[at]!;
  if ((tag & 0x1f) === 0x1f) return null;
  const first = bytes[at + 1]!;
  let len: number;
  let start: number;
  if (first < 0x80) {
    len = first;
    start = at + 2;
  } else {
    const n = first & 0x7f;
    // 0: indefinite (BER only); above 3: over 16 MiB, never a token.
    if (n === 0 || n > 3 || at + 2 + n > limit) return null;
    if (bytes[at + 2] === 0) return null; // a leading zero byte: not the shortest form
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[at + 2 + i]!;
    if (len < 0x80 || (n > 1 && len < 256 ** (n - 1))) return null;
    start = at + 2 + n;
  }
  const end = start + len;
  return end <= limit ? { tag, start, end } : null;
}

/** The children of a constructed element, in order, or null when they do not exactly fill it. */
function children(bytes: Uint8Array, el: DerElement): DerElement[] | null {
  const out: DerElement[] = [];
  let at = el.start;
  while (at < el.end) {
    const child = readDer(bytes, at, el.end);
    if (!child) return null;
    out.push(child);
    at = child.end;
  }
  return out;
}

/** The only child with `tag`, or null (none, or more than one). */
function only(list: DerElement[] | null, tag: number): DerElement | null {
  const found = list?.filter((e) => e.tag === tag) ?? [];
  return found.length === 1 ? found[0]! : null;
}

const OID_SPNEGO = Buffer.from('2b0601050502', 'hex'); // 1.3.6.1.5.5.2
const OID_KRB5 = Buffer.from('2a864886f712010202', 'hex'); // 1.2.840.113554.1.2.2
const OID_KRB5_MS = Buffer.from('2a864882f712010202', 'hex'); // 1.2.840.48018.1.2.2 (Windows' variant)
const TOK_ID_AP_REQ = [0x01, 0x00];

/**
 * The `cipher` of the AP-REQ's authenticator (EncryptedData [2] in AP-REQ [4]), in a GSS krb5 token
 * [APPLICATION 0] {OID, 01 00, AP-REQ [APPLICATION 14]} that is either the whole token or SPNEGO
 * NegTokenInit's mechToken [2]. Null when it is not there or any element on the way is not canonical DER.
 */
export function authenticatorCipher(bytes: Uint8Array): Buffer | null {
  const outer = readDer(bytes, 0);
  if (!outer || outer.tag !== 0x60 || outer.end !== bytes.length) return null;
  const oid = readDer(bytes, outer.start, outer.end);
  if (!oid || oid.tag !== 0x06) return null;
  const mech = Buffer.from(bytes.subarray(oid.start, oid.end));
  if (mech.equals(OID_SPNEGO)) {
    // NegotiationToken: negTokenInit [0] NegTokenInit SEQUENCE { ..., mechToken [2] OCTET STRING, ... }.
    const init = readDer(bytes, oid.end, outer.end);
    if (!init || init.tag !== 0xa0 || init.end !== outer.end) return null;
    const seq = only(children(bytes, init), 0x30);
    const mechToken = seq && only(children(bytes, seq), 0xa2);
    const octets = mechToken && only(children(bytes, mechToken), 0x04);
    if (!octets) return null;
    return authenticatorCipher(bytes.subarray(octets.start, octets.end));
  }
  if (!mech.equals(OID_KRB5) && !mech.equals(OID_KRB5_MS)) return null;
  if (bytes[oid.end] !== TOK_ID_AP_REQ[0] || bytes[oid.end + 1] !== TOK_ID_AP_REQ[1]) return null;
  const apReq = readDer(bytes, oid.end + 2, outer.end);
  if (!apReq || apReq.tag !== 0x6e || apReq.end !== outer.end) return null;
  const body = only(children(bytes, apReq), 0x30);
  const authenticator = body && only(children(bytes, body), 0xa4);
  const encrypted = authenticator && only(children(bytes, authenticator), 0x30);
  const cipherField = encrypted && only(children(bytes, encrypted), 0xa2);
  const cipher = cipherField && only(children(bytes, cipherField), 0x04);
  if (!cipher || cipher.end === cipher.start) return null;
  return Buffer.from(bytes.subarray(cipher.start, cipher.end));
}
