import { describe, expect, it } from 'vitest';
import { clientNetwork } from './client-network.ts';

describe('clientNetwork', () => {
  it('groups IPv4 addresses by /24', () => {
    expect(clientNetwork('192.0.2.10')).toEqual({ family: 4, address: '192.0.2.10', network: '192.0.2.0/24' });
    expect(clientNetwork('192.0.2.250')!.network).toBe('192.0.2.0/24');
    expect(clientNetwork('192.0.3.10')!.network).toBe('192.0.3.0/24');
  });

  it('treats IPv4-mapped IPv6, dotted or hex, as the IPv4 address', () => {
    expect(clientNetwork('::ffff:192.0.2.10')).toEqual({ family: 4, address: '192.0.2.10', network: '192.0.2.0/24' });
    expect(clientNetwork('::FFFF:C000:020A')).toEqual({ family: 4, address: '192.0.2.10', network: '192.0.2.0/24' });
    expect(clientNetwork('0:0:0:0:0:ffff:192.0.2.99')!.network).toBe('192.0.2.0/24');
  });

  it('groups IPv6 addresses by /64, whatever way the address is written', () => {
    const a = clientNetwork('2001:db8:0:1::25')!;
    expect(a).toEqual({ family: 6, address: '2001:0db8:0000:0001:0000:0000:0000:0025', network: '2001:0db8:0000:0001::/64' });
    for (const same of ['2001:DB8:0:1:ffff:ffff:ffff:ffff', '2001:0db8:0000:0001:1234::1', '2001:db8:0:1::']) {
      expect(clientNetwork(same)!.network).toBe(a.network);
    }
    expect(clientNetwork('2001:db8:0:2::25')!.network).not.toBe(a.network);
    expect(clientNetwork('2001:db8::1:0:0:25')!.network).toBe('2001:0db8:0000:0000::/64');
  });

  it('handles loopback, a zone index and an embedded dotted quad that is not a mapped address', () => {
    expect(clientNetwork('::1')).toEqual({ family: 6, address: '0000:0000:0000:0000:0000:0000:0000:0001', network: '0000:0000:0000:0000::/64' });
    expect(clientNetwork('fe80::1%eth0')!.network).toBe('fe80:0000:0000:0000::/64');
    expect(clientNetwork('64:ff9b::192.0.2.1')).toMatchObject({ family: 6, address: '0064:ff9b:0000:0000:0000:0000:c000:0201' });
  });

  it('gives undefined for what is not an IP address', () => {
    for (const bad of ['', 'UNKNOWN', 'localhost', '/tmp/smtp.sock', '192.0.2', '1::2::3']) expect(clientNetwork(bad)).toBeUndefined();
  });
});
