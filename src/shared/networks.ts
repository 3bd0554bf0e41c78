// CIDR lists (mfa.trustedNetworks, mfa.enrolFrom): parsed once (the config schema refuses a bad one), matched against the client address the gateway derives.
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  /** As written in the config, for reasons and messages. */
  text: string;
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a lone address (a /32 or /128). Undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) return undefined;
  const address = m[1] as string;
  const v = isIP(address);
  if (v === 0) return undefined;
  const family = v === 4 ? 'ipv4' : 'ipv6';
  const max = v === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { text: text.trim(), address, prefix, family };
}

export class NetworkList {
  readonly #entries: { cidr: Cidr; list: BlockList }[];

  constructor(cidrs: readonly string[]) {
    this.#entries = cidrs.map((text) => {
      const cidr = parseCidr(text);
      // The schema refuses these; reaching here with one is a programming error, never "matches nothing".
      if (!cidr) throw new Error(`not a CIDR: ${text}`);
      const list = new BlockList();
      list.addSubnet(cidr.address, cidr.prefix, cidr.family);
      return { cidr, list };
    });
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The first entry containing `address` (IPv4-mapped IPv6 counts as IPv4), or undefined. An unparseable address matches nothing. */
  match(address: string | undefined): string | undefined {
    if (!address) return undefined;
    const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const v = isIP(bare);
    if (v === 0) return undefined;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
    const [addr, family] = mapped ? [mapped[1] as string, 'ipv4' as const] : [bare, v === 4 ? ('ipv4' as const) : ('ipv6' as const)];
    for (const e of this.#entries) if (e.list.check(addr, family)) return e.cidr.text;
    return undefined;
  }
}
