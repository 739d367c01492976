/**
 * Which addresses a webhook may be POSTed to. Cloud metadata and link-local addresses are never
 * allowed (a route must not turn mxhook into a proxy to the instance's credentials); private
 * and loopback ranges only when the operator allows them (the default, as apps often sit beside
 * mxhook on a private network). An IPv6 address that carries an IPv4 one (IPv4-mapped,
 * IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged as that IPv4 address, so a
 * refused IPv4 is refused in every spelling. Pure.
 */
import { BlockList, isIP } from 'node:net';

/** Error code of a refused destination; classifyAttempt (outcome.ts) treats it as permanent. */
export const DESTINATION_REFUSED = 'EDESTREFUSED';

export type RefusalClass = 'metadata' | 'link-local' | 'unspecified' | 'multicast' | 'private' | 'loopback';

const always = new BlockList();
always.addAddress('169.254.169.254'); // AWS, GCP, Azure, OpenStack metadata
always.addAddress('168.63.129.16'); // Azure WireServer (host agent, metadata)
always.addAddress('100.100.100.200'); // Alibaba Cloud metadata
always.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
always.addAddress('fd20:ce::254', 'ipv6'); // Google Cloud metadata over IPv6
const linkLocal = new BlockList();
linkLocal.addSubnet('169.254.0.0', 16);
linkLocal.addSubnet('fe80::', 10, 'ipv6');
const unspecified = new BlockList();
unspecified.addSubnet('0.0.0.0', 8);
unspecified.addAddress('::', 'ipv6');
const multicast = new BlockList();
multicast.addSubnet('224.0.0.0', 4);
multicast.addAddress('255.255.255.255');
multicast.addSubnet('ff00::', 8, 'ipv6');
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8);
loopback.addAddress('::1', 'ipv6');
const privateRanges = new BlockList();
for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10]] as const) privateRanges.addSubnet(net, bits);
privateRanges.addSubnet('fc00::', 7, 'ipv6');

/** Why an IP may not be a destination, or undefined when it may. */
export function classifyDestination(ip: string, options: { allowPrivate: boolean }): RefusalClass | undefined {
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (family === 'ipv6') {
    const embedded = embeddedIpv4(ip);
    if (embedded) return classifyDestination(embedded, options);
  }
  if (always.check(ip, family)) return 'metadata';
  if (linkLocal.check(ip, family)) return 'link-local';
  if (unspecified.check(ip, family)) return 'unspecified';
  if (multicast.check(ip, family)) return 'multicast';
  if (options.allowPrivate) return undefined;
  if (loopback.check(ip, family)) return 'loopback';
  if (privateRanges.check(ip, family)) return 'private';
  return undefined;
}

/** For URLs with an IP-literal host: the class that is refused whatever the operator allows. */
export function refusedLiteralHost(hostname: string): RefusalClass | undefined {
  const ip = hostname.replace(/^\[|\]$/g, '');
  if (!isIP(ip)) return undefined;
  return classifyDestination(ip, { allowPrivate: true });
}

/** Longest webhook URL accepted (as the API's schemas say). */
export const OUTBOUND_URL_MAX = 4096;

/**
 * The check of a URL mxhook will POST to (a route's, an address rule's, an event destination's):
 * absolute, http or https, not too long, no IP literal that is refused whatever the operator
 * allows. Answers the problem, or undefined. Names resolved at send time are the guard's
 * (deliver/destination-guard.ts).
 */
export function checkOutboundUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value) return 'url is required';
  if (value.length > OUTBOUND_URL_MAX) return `url is longer than ${OUTBOUND_URL_MAX} characters`;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return 'invalid url: not an absolute URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'url must use http or https';
  const refused = refusedLiteralHost(parsed.hostname);
  if (refused) return `url points at a ${refused} address, which is never allowed`;
  return undefined;
}

/**
 * The IPv4 address an IPv6 one stands for, in any of the forms that reach it: IPv4-mapped
 * (::ffff:a.b.c.d, also written in hex as URLs normalise it), IPv4-compatible (::a.b.c.d; :: and
 * ::1 are IPv6's own), NAT64's well-known prefix (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
 */
export function embeddedIpv4(ip: string): string | undefined {
  const words = ipv6Words(ip);
  if (!words) return undefined;
  const zeros = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  const dotted = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (zeros(0, 5) && words[5] === 0xffff) return dotted(words[6]!, words[7]!);
  if (zeros(0, 6) && (words[6] !== 0 || words[7]! > 1)) return dotted(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && zeros(2, 6)) return dotted(words[6]!, words[7]!);
  if (words[0] === 0x2002) return dotted(words[1]!, words[2]!);
  return undefined;
}

/** An IPv6 address as its eight 16-bit words (a zone index dropped), or undefined if it is not one. */
function ipv6Words(ip: string): number[] | undefined {
  const address = ip.replace(/%.*$/, '');
  if (isIP(address) !== 6) return undefined;
  const [head, tail] = address.includes('::') ? address.split('::') as [string, string] : [address, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':') : []).flatMap((group) => {
    if (!group.includes('.')) return [parseInt(group, 16)];
    const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
    return [(a << 8) | b, (c << 8) | d];
  });
  const front = parse(head);
  const back = parse(tail);
  if (tail === undefined) return front;
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}
