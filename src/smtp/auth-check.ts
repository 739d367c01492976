/**
 * SPF, DKIM, DMARC and ARC for one message, with mailauth, run once at the end of DATA (before the
 * message is stored). Never throws and never takes longer than its deadline: a DNS failure or a
 * timeout gives temperror verdicts and the message is accepted all the same.
 */
import { Resolver } from 'node:dns/promises';
import type { Readable } from 'node:stream';
import type { AuthenticateResult } from 'mailauth';
import { unknownVerdicts, type AuthVerdicts, type DkimVerdict } from '../domain/auth.ts';

/** Same contract as `dns.promises.resolve(name, rrtype)`; errors carry DNS codes (ENOTFOUND, ETIMEOUT, ...). */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

export interface AuthCheckOptions {
  /** authserv-id of our Authentication-Results header: the configured hostname. */
  readonly authservId: string;
  /** Whole check, ms; past it every verdict is temperror. */
  readonly timeoutMs: number;
  readonly resolver: DnsResolver;
}

export interface AuthCheckInput {
  /** The message as the client sent it (without our Received:); a stream for large staged ones. */
  readonly message: Buffer | Readable;
  readonly clientIp: string;
  readonly helo: string;
  /** MAIL FROM; '' for the null sender (SPF then checks the HELO name). */
  readonly mailFrom: string;
}

/** The system resolver, each query bounded by `timeoutMs` (tried twice). */
export function systemResolver(timeoutMs: number): DnsResolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  return (name, rrtype) => resolver.resolve(name, rrtype);
}

/** mailauth takes a while to import: only processes that receive mail load it (see preloadAuthChecks). */
let mailauth: Promise<typeof import('mailauth')> | undefined;
const loadMailauth = () => (mailauth ??= import('mailauth'));

/** Starts loading the checks' code now, so the first message does not wait for it. */
export function preloadAuthChecks(): void {
  loadMailauth().catch(() => {});
}

export async function checkAuthentication(input: AuthCheckInput, options: AuthCheckOptions): Promise<AuthVerdicts> {
  const unknown = (error: string) => unknownVerdicts({ ...input, authservId: options.authservId, error });
  const failed = (err: unknown) => unknown(`checks failed: ${(err as Error)?.message ?? String(err)}`);
  let authenticate: (typeof import('mailauth'))['authenticate'];
  try {
    ({ authenticate } = await loadMailauth());
  } catch (err) {
    return failed(err);
  }
  // The deadline covers the checks (DNS above all), not loading their code.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<AuthVerdicts>((resolve) => {
    timer = setTimeout(() => resolve(unknown(`checks did not finish within ${options.timeoutMs} ms`)), options.timeoutMs);
  });
  const run = authenticate(input.message, {
    ip: input.clientIp,
    helo: input.helo,
    sender: input.mailFrom,
    mta: options.authservId,
    resolver: options.resolver as never,
    disableBimi: true,
  }).then((result) => toVerdicts(result, input, options.authservId)).catch(failed);
  try {
    return await Promise.race([run, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * mailauth's lenient mode reports a body hash mismatch as `neutral`; RFC 6376 §6.1.3 makes it a
 * failed signature (PERMFAIL, `dkim=fail` in RFC 8601), which is what receivers such as SendGrid say.
 */
const BODY_HASH_MISMATCH = 'body hash did not verify';

function toVerdicts(result: AuthenticateResult, input: AuthCheckInput, authservId: string): AuthVerdicts {
  const parts: string[] = [];
  const rows = result.dkim.results ?? [];
  // An unsigned message gets one row `dkim=none (message not signed)` without a signing domain.
  const signatures = rows.filter((row) => row.signingDomain);
  if (rows.length && !signatures.length) parts.push(...rows.map((row) => row.info));
  const dkim: DkimVerdict[] = signatures.map((row) => {
    const bodyTampered = row.status.result === 'neutral' && row.status.comment === BODY_HASH_MISMATCH;
    const verdict = bodyTampered ? 'fail' : row.status.result;
    parts.push(bodyTampered ? row.info.replace(/^dkim=neutral/, 'dkim=fail') : row.info);
    return {
      domain: row.signingDomain ?? '',
      selector: row.selector,
      result: verdict,
      ...(row.status.comment ? { comment: row.status.comment } : {}),
      aligned: Boolean(row.status.aligned),
    };
  });
  if (!rows.length) parts.push('dkim=none (message not signed)');
  const spf = result.spf || undefined;
  if (spf) parts.push(spf.info);
  const arc = result.arc || undefined;
  if (arc?.info) parts.push(arc.info);
  const dmarc = result.dmarc || undefined;
  if (dmarc?.info) parts.push(dmarc.info);
  else parts.push('dmarc=none');
  return {
    spf: {
      result: spf?.status.result ?? 'none',
      ...(spf?.domain ? { domain: spf.domain } : {}),
      clientIp: input.clientIp,
      helo: input.helo,
      mailFrom: input.mailFrom,
    },
    dkim,
    dmarc: {
      result: dmarc?.status.result ?? 'none',
      ...(dmarc?.status.header?.from ? { domain: String(dmarc.status.header.from) } : {}),
      ...(dmarc && 'policy' in dmarc && dmarc.policy ? { policy: String(dmarc.policy) } : {}),
    },
    arc: { result: arc?.status.result ?? 'none' },
    // One line: the `headers` field has every header unfolded.
    header: `Authentication-Results: ${authservId}; ${parts.map((p) => p.replace(/\r?\n[ \t]*/g, ' ')).join('; ')}`,
  };
}
