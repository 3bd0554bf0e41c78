// The client address as server.trustProxy says to read it; the same rule for Express pages and the raw proxy path.
import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

export type AddressOf = (req: IncomingMessage) => string;

export function createAddressOf(trustProxy: string | boolean | number): AddressOf {
  let trust: (addr: string, i: number) => boolean;
  if (typeof trustProxy === 'boolean') trust = () => trustProxy;
  else if (typeof trustProxy === 'number') trust = (_a, i) => i < trustProxy;
  else trust = proxyaddr.compile(trustProxy.split(',').map((s) => s.trim()).filter(Boolean));
  return (req) => proxyaddr(req, trust);
}

/** True for a socket peer that server.trustProxy trusts as a proxy in front (the first hop of createAddressOf's rule). */
export function createPeerTrust(trustProxy: string | boolean | number): (address: string) => boolean {
  if (typeof trustProxy === 'boolean') return () => trustProxy;
  if (typeof trustProxy === 'number') return () => trustProxy > 0;
  const trust = proxyaddr.compile(trustProxy.split(',').map((s) => s.trim()).filter(Boolean));
  return (address) => address !== '' && trust(address, 0);
}
