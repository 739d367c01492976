import { describe, expect, it } from 'vitest';
import { classifyDestination, refusedLiteralHost } from './destination-policy.ts';

describe('classifyDestination', () => {
  it.each([
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
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
  ])('refuses %s (%s) only when private destinations are not allowed', (ip, why) => {
    expect(classifyDestination(ip, { allowPrivate: true })).toBeUndefined();
    expect(classifyDestination(ip, { allowPrivate: false })).toBe(why);
  });

  it.each(['93.184.216.34', '172.32.0.1', '2606:2800:220:1::1', '8.8.8.8'])('allows public %s', (ip) => {
    expect(classifyDestination(ip, { allowPrivate: false })).toBeUndefined();
  });
});

describe('refusedLiteralHost', () => {
  it('judges IP-literal URL hosts (brackets for IPv6) and ignores names', () => {
    expect(refusedLiteralHost('169.254.169.254')).toBe('metadata');
    expect(refusedLiteralHost('[fe80::1]')).toBe('link-local');
    expect(refusedLiteralHost('10.0.0.1')).toBeUndefined();
    expect(refusedLiteralHost('metadata.google.internal')).toBeUndefined();
  });
});
