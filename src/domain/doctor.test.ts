import { describe, expect, it } from 'vitest';
import { checkCertificate, checkRedisSettings, formatChecklist, reverseName } from './doctor.ts';

const now = new Date('2026-12-01T00:00:00Z');
const cert = (days: number, names: string[]) => ({ validTo: new Date(now.getTime() + days * 86_400_000), matches: (n: string) => names.includes(n) });

describe('doctor checks', () => {
  it('certificate: near expiry and expired fail, a long-valid one covering the MX name passes', () => {
    expect(checkCertificate(cert(90, ['mx1.test']), ['mx1.test'], now).map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(checkCertificate(cert(5, ['mx1.test']), ['mx1.test'], now)[0]).toMatchObject({ status: 'fail', what: 'TLS certificate expires in 5 day(s)' });
    expect(checkCertificate(cert(-1, ['mx1.test']), [], now)[0].status).toBe('fail');
    expect(checkCertificate(cert(90, ['other']), ['mx1.test'], now)[1].status).toBe('fail');
  });
  it('Redis: append-only off or an evicting policy fail', () => {
    expect(checkRedisSettings('aof_enabled:1\r\nmaxmemory_policy:noeviction\r\n').map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(checkRedisSettings('aof_enabled:0\r\nmaxmemory_policy:allkeys-lru\r\n').map((r) => r.status)).toEqual(['fail', 'fail']);
  });
  it('reverse names for IPv4 and IPv6', () => {
    expect(reverseName('203.0.113.10')).toBe('10.113.0.203.in-addr.arpa');
    expect(reverseName('2001:db8::1')).toBe(`1.0.0.0.${'0.'.repeat(20)}8.b.d.0.1.0.0.2.ip6.arpa`);
  });
  it('checklist counts failures, warnings do not count', () => {
    expect(formatChecklist([{ status: 'warn', what: 'w', fix: 'f' }])).toBe('[warn] w\n       fix: f\nall checks passed\n');
  });
});
