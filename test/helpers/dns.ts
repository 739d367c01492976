/**
 * A DNS resolver fed with fixture records, for the authentication checks (mailauth takes it as its
 * `resolver`). It answers like `dns.promises.resolve`: TXT as arrays of chunks, a missing name
 * with ENOTFOUND, a name without that type with ENODATA, and names listed in `failing` with the
 * given error code (ETIMEOUT, ESERVFAIL) so DNS outages can be tested.
 */
import type { DnsResolver } from '../../src/smtp/auth-check.ts';

export type FixtureRecords = Record<string, Partial<Record<'TXT' | 'A' | 'AAAA' | 'MX' | 'PTR', readonly unknown[]>>>;

export interface FixtureResolver extends DnsResolver {
  /** Every query asked, as `TYPE name`. */
  readonly queries: string[];
}

export function createFixtureResolver(records: FixtureRecords, failing: Record<string, string> = {}): FixtureResolver {
  const byName = new Map(Object.entries(records).map(([name, types]) => [normalize(name), types]));
  const queries: string[] = [];
  const resolver = async (name: string, rrtype: string) => {
    const key = normalize(name);
    queries.push(`${rrtype} ${key}`);
    const fail = (code: string) => Object.assign(new Error(`query${rrtype} ${code} ${name}`), { code, hostname: name });
    if (failing[key]) throw fail(failing[key]);
    const types = byName.get(key);
    if (!types) throw fail('ENOTFOUND');
    const answer = types[rrtype as keyof typeof types];
    if (!answer) throw fail('ENODATA');
    // TXT records come back as arrays of strings (chunks), as node:dns returns them.
    return rrtype === 'TXT' ? answer.map((r) => (Array.isArray(r) ? r : [r])) : [...answer];
  };
  return Object.assign(resolver, { queries });
}

const normalize = (name: string) => name.toLowerCase().replace(/\.$/, '');
