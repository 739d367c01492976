import { describe, expect, it } from 'vitest';
import { classifyDestination, embeddedIpv4, refusedLiteralHost } from './destination-policy.ts';

describe('classifyDestination', () => {
  it.each([
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['fd20:ce::254', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['::ffff:168.63.129.16', 'metadata'],
    ['64:ff9b::169.254.169.254', 'metadata'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['2002:a9fe:a9fe::', 'metadata'],
    ['2002:a9fe:a9fe:1::5', 'metadata'],
    ['::169.254.169.254', 'metadata'],
    ['0:0:0:0:0:0:a9fe:a9fe', 'metadata'],
    ['64:ff9b::100.100.100.200', 'metadata'],
    ['2002:a9fe:0101::', 'link-local'],
    ['64:ff9b::e000:1', 'multicast'],
    ['fe80::1%eth0', 'link-local'],
    ['169.254.10.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
  ])('always refuses %s (%s), even with private destinations allowed', (ip, why) => {
    expect(classifyDestination(ip, { allowPrivate: true })).toBe(why);
    expect(classifyDestination(ip, { allowPrivate: false })).toBe(why);
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:7f00:1', 'loopback'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['2002:7f00:1::', 'loopback'],
    ['::10.0.0.1', 'private'],
    ['64:ff9b::c0a8:101', 'private'],
    ['2002:c0a8:0101::1', 'private'],
  ])('refuses %s (%s) only when private destinations are not allowed', (ip, why) => {
    expect(classifyDestination(ip, { allowPrivate: true })).toBeUndefined();
    expect(classifyDestination(ip, { allowPrivate: false })).toBe(why);
  });

  it.each(['93.184.216.34', '172.32.0.1', '2606:2800:220:1::1', '8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '168.63.129.17'])('allows public %s', (ip) => {
    expect(classifyDestination(ip, { allowPrivate: false })).toBeUndefined();
  });
});

describe('embeddedIpv4', () => {
  it.each([
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::ffff:102:304', '1.2.3.4'],
    ['::1.2.3.4', '1.2.3.4'],
    ['64:ff9b::1.2.3.4', '1.2.3.4'],
    ['2002:102:304::', '1.2.3.4'],
    ['2002:0102:0304:ffff::1', '1.2.3.4'],
  ])('reads %s as %s', (ip, v4) => {
    expect(embeddedIpv4(ip)).toBe(v4);
  });

  it.each(['::', '::1', '2001:db8::1.2.3.4', '64:ff9b:1::1.2.3.4', 'fe80::1', '1.2.3.4', 'not an ip'])('finds no IPv4 in %s', (ip) => {
    expect(embeddedIpv4(ip)).toBeUndefined();
  });
});

describe('refusedLiteralHost', () => {
  it('judges IP-literal URL hosts (brackets for IPv6) and ignores names', () => {
    expect(refusedLiteralHost('169.254.169.254')).toBe('metadata');
    expect(refusedLiteralHost('[fe80::1]')).toBe('link-local');
    expect(refusedLiteralHost('10.0.0.1')).toBeUndefined();
    expect(refusedLiteralHost('metadata.google.internal')).toBeUndefined();
    // URL parsing writes an IPv4-mapped host in hex: still the metadata address.
    expect(refusedLiteralHost(new URL('http://[::ffff:169.254.169.254]/').hostname)).toBe('metadata');
    expect(refusedLiteralHost(new URL('http://[64:ff9b::169.254.169.254]/').hostname)).toBe('metadata');
    expect(refusedLiteralHost('[fd20:ce::254]')).toBe('metadata');
  });
});
