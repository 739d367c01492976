/**
 * The network a client address belongs to, for connection limits: an IPv4 address's /24 and an
 * IPv6 address's /64. One IPv6 /64 (a single subnet, often one host) holds 2^64 addresses, so a
 * per-address limit alone is no limit for IPv6. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`,
 * as a dual-stack listener reports IPv4 clients) is the IPv4 address. Pure.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface ClientNetwork {
  readonly family: 4 | 6;
  /** The address, canonical: mapped IPv4 unwrapped, IPv6 in lower case with every group written out. */
  readonly address: string;
  /** `192.0.2.0/24` or `2001:0db8:0000:0001::/64`; the key the network's connections are counted under. */
  readonly network: string;
}

/** undefined for a string that is not an IP address (a unix socket, a PROXY header's `UNKNOWN`). */
export function clientNetwork(ip: string): ClientNetwork | undefined {
  const text = ip.trim().toLowerCase().replace(/%.*$/, '');
  if (isIPv4(text)) return ipv4(text);
  if (!isIPv6(text)) return undefined;
  const groups = expandIpv6(text);
  // ::ffff:a.b.c.d (and its hex form ::ffff:c000:0201) is an IPv4 client.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return ipv4([groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.'));
  }
  const hex = groups.map((g) => g.toString(16).padStart(4, '0'));
  return { family: 6, address: hex.join(':'), network: `${hex.slice(0, 4).join(':')}::/64` };
}

function ipv4(address: string): ClientNetwork {
  const octets = address.split('.').map(Number);
  return { family: 4, address: octets.join('.'), network: `${octets.slice(0, 3).join('.')}.0/24` };
}

/** Eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted quad converted). */
function expandIpv6(address: string): number[] {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  return [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right].map((g) => parseInt(g, 16));
}
