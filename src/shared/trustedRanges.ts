// Which of the gateway host's own networks server.trustProxy trusts to set X-Forwarded-For. A container's bridge
// network holds the address docker-proxy connects from for host-local and IPv6 clients, so a range covering it lets
// any such client choose its own address (throttle keys, audit).
import { BlockList, isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

/** proxy-addr's named ranges, as it defines them. */
const NAMED: Record<string, string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

type Family = 'ipv4' | 'ipv6';

function bits(family: Family): number {
  return family === 'ipv4' ? 32 : 128;
}

function toBig(address: string, family: Family): bigint {
  if (family === 'ipv4') return address.split('.').reduce((n, o) => (n << 8n) + BigInt(Number(o)), 0n);
  // An IPv4 tail (::ffff:10.0.0.1) is two groups.
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (v4) {
    const n = Number(toBig(v4[2]!, 'ipv4'));
    address = `${v4[1]}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const part = (s: string) => (s ? s.split(':') : []);
  const h = part(head);
  const t = tail === undefined ? [] : part(tail);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
}

function fromBig(n: bigint, family: Family): string {
  if (family === 'ipv4') return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  return groups.join(':');
}

function maskToPrefix(mask: string): number {
  return mask.split('.').reduce((n, o) => n + [...Number(o).toString(2)].filter((b) => b === '1').length, 0);
}

export interface Network {
  family: Family;
  first: string;
  last: string;
  cidr: string;
}

/** The network a `address/prefix` (or `address/dotted-mask`, or a bare address) lies in. */
export function networkOf(spec: string): Network | undefined {
  const [address = '', suffix] = spec.split('/');
  const v = isIP(address);
  if (!v) return undefined;
  const family: Family = v === 4 ? 'ipv4' : 'ipv6';
  const width = bits(family);
  const prefix = suffix === undefined ? width : suffix.includes('.') ? maskToPrefix(suffix) : Number(suffix);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) return undefined;
  const hostBits = BigInt(width - prefix);
  const all = (1n << BigInt(width)) - 1n;
  const first = toBig(address, family) & (all ^ ((1n << hostBits) - 1n));
  const last = first | ((1n << hostBits) - 1n);
  return { family, first: fromBig(first, family), last: fromBig(last, family), cidr: `${fromBig(first, family)}/${prefix}` };
}

export interface TrustOverlap {
  /** The trustProxy entry, as written. */
  entry: string;
  /** The host network it covers, and the interface that has it. */
  network: string;
  iface: string;
}

/**
 * Every (trusted entry, own network) pair where the entry covers the whole network or the network's first address
 * (where Docker puts the bridge, the source docker-proxy uses). Loopback interfaces are skipped: trusting a proxy on
 * the same host is the default. `true` and hop counts trust any peer and are reported against every network.
 */
export function trustedOwnNetworks(trustProxy: string | boolean | number, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): TrustOverlap[] {
  const own: { iface: string; net: Network }[] = [];
  for (const [iface, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal || !info.cidr) continue;
      const net = networkOf(info.cidr);
      if (net && !own.some((o) => o.net.cidr === net.cidr)) own.push({ iface, net });
    }
  }
  if (trustProxy === false) return [];
  if (trustProxy === true || typeof trustProxy === 'number') {
    if (trustProxy === 0) return [];
    return own.map((o) => ({ entry: String(trustProxy), network: o.net.cidr, iface: o.iface }));
  }
  const out: TrustOverlap[] = [];
  for (const entry of trustProxy.split(',').map((s) => s.trim()).filter(Boolean)) {
    const list = new BlockList();
    for (const spec of NAMED[entry] ?? [entry]) {
      const net = networkOf(spec);
      if (net) list.addRange(net.first, net.last, net.family);
    }
    for (const o of own) {
      const bridge = fromBig(toBig(o.net.first, o.net.family) + 1n, o.net.family);
      const covers = list.check(o.net.first, o.net.family) && list.check(o.net.last, o.net.family);
      if (covers || list.check(bridge, o.net.family)) out.push({ entry, network: o.net.cidr, iface: o.iface });
    }
  }
  return out;
}

/** The warning check-config and serve print for each overlap. */
export function trustOverlapWarning(o: TrustOverlap): string {
  return (
    `server.trustProxy: "${o.entry}" trusts X-Forwarded-For from this host's own network ${o.network} (${o.iface}), ` +
    "where a container runtime's port proxy connects from: any client could choose its address. Trust exactly the load balancer's address"
  );
}
