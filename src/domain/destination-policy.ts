/**
 * Which addresses a webhook may be POSTed to. Cloud metadata and link-local addresses are never
 * allowed (a route must not turn mxhook into a proxy to the instance's credentials); private
 * and loopback ranges only when the operator allows them (the default, as apps often sit beside
 * mxhook on a private network). Pure.
 */
import { BlockList, isIP } from 'node:net';

/** Error code of a refused destination; classifyAttempt (outcome.ts) treats it as permanent. */
export const DESTINATION_REFUSED = 'EDESTREFUSED';

export type RefusalClass = 'metadata' | 'link-local' | 'unspecified' | 'multicast' | 'private' | 'loopback';

const always = new BlockList();
always.addAddress('169.254.169.254'); // AWS, GCP, Azure, OpenStack metadata
always.addAddress('100.100.100.200'); // Alibaba Cloud metadata
always.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
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
  // IPv4-mapped IPv6 (::ffff:169.254.169.254) is checked as the IPv4 address it is.
  const mapped = family === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] : undefined;
  if (mapped) return classifyDestination(mapped, options);
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
