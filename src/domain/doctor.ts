/**
 * `mxhook doctor`'s verdicts, as values: each check is one line of a checklist with, when it fails,
 * the fix. The pure decisions (certificate, Redis settings, addresses) live here; the command
 * (app/commands/doctor.ts) only gathers DNS answers, files and connections.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly status: CheckStatus;
  /** What was checked and what was found. */
  readonly what: string;
  /** How to fix it (for warn and fail). */
  readonly fix?: string;
}

export const ok = (what: string): CheckResult => ({ status: 'ok', what });
export const warn = (what: string, fix: string): CheckResult => ({ status: 'warn', what, fix });
export const fail = (what: string, fix: string): CheckResult => ({ status: 'fail', what, fix });

/** Days before expiry at which a certificate is reported (Let's Encrypt renews at 30). */
export const CERT_EXPIRY_WARN_DAYS = 14;

export function checkCertificate(cert: { validTo: Date; matches: (name: string) => boolean }, mxNames: readonly string[], now: Date): CheckResult[] {
  const results: CheckResult[] = [];
  const days = Math.floor((cert.validTo.getTime() - now.getTime()) / 86_400_000);
  if (days < 0) results.push(fail(`TLS certificate expired on ${cert.validTo.toISOString().slice(0, 10)}`, 'renew it (certbot renew); mxhook reloads the files by itself'));
  else if (days < CERT_EXPIRY_WARN_DAYS) results.push(fail(`TLS certificate expires in ${days} day(s)`, 'renew it now (certbot renew); mxhook reloads the files by itself'));
  else results.push(ok(`TLS certificate valid for ${days} more days`));
  for (const name of mxNames) {
    results.push(cert.matches(name)
      ? ok(`TLS certificate covers ${name}`)
      : fail(`TLS certificate does not cover the MX name ${name}`, `get a certificate for ${name} (certbot certonly -d ${name}) and set MXHOOK_TLS_CERT/MXHOOK_TLS_KEY to it`));
  }
  return results;
}

/** Redis as mxhook needs it: nothing accepted may be lost or evicted. `info` is INFO's text. */
export function checkRedisSettings(info: string): CheckResult[] {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const aof = field('aof_enabled');
  const policy = field('maxmemory_policy');
  return [
    aof === '1' ? ok('Redis append-only file is on')
      : fail('Redis append-only file is off: a Redis restart can lose accepted mail', 'set appendonly yes (redis-cli CONFIG SET appendonly yes, and in redis.conf)'),
    policy === 'noeviction' ? ok('Redis maxmemory-policy is noeviction')
      : fail(`Redis maxmemory-policy is ${policy ?? 'unknown'}: Redis may evict stored mail and queued deliveries`, 'set maxmemory-policy noeviction (redis-cli CONFIG SET maxmemory-policy noeviction, and in redis.conf)'),
  ];
}

/** The reverse name of an IPv4 or IPv6 address, for the PTR query. */
export function reverseName(address: string): string {
  if (address.includes(':')) {
    const [head, tail = ''] = address.split('::');
    const groups = (s: string) => (s ? s.split(':') : []);
    const h = groups(head), t = groups(tail);
    const full = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => g.padStart(4, '0')).join('');
    return `${[...full].reverse().join('.')}.ip6.arpa`;
  }
  return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
}

export function formatChecklist(results: readonly CheckResult[]): string {
  const label = { ok: '[ok]  ', warn: '[warn]', fail: '[FAIL]' } as const;
  const lines = results.map((r) => `${label[r.status]} ${r.what}${r.fix && r.status !== 'ok' ? `\n       fix: ${r.fix}` : ''}`);
  const failures = results.filter((r) => r.status === 'fail').length;
  lines.push(failures ? `${failures} problem(s) found` : 'all checks passed');
  return `${lines.join('\n')}\n`;
}
