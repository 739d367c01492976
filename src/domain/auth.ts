/**
 * Authentication verdicts (SPF, DKIM, DMARC, ARC) computed once at SMTP time and kept with the
 * message, and the SendGrid field formats derived from them (docs/payload.md, docs/smtp.md "Authentication results"). Pure.
 */

/** RFC 8601 result words; SPF uses pass/fail/softfail/neutral/none/temperror/permerror. */
export type AuthResult = string;

export interface DkimVerdict {
  /** Signing domain (d=). */
  readonly domain: string;
  readonly selector?: string | undefined;
  readonly result: AuthResult;
  /** Why, when not pass (e.g. "body hash did not verify"). */
  readonly comment?: string | undefined;
  /** The signing domain aligns with the From domain (for DMARC). */
  readonly aligned?: boolean | undefined;
}

export interface AuthVerdicts {
  readonly spf: {
    readonly result: AuthResult;
    /** The domain whose policy was checked (MAIL FROM's, or HELO's for the null sender). */
    readonly domain?: string | undefined;
    readonly clientIp: string;
    readonly helo: string;
    readonly mailFrom: string;
  };
  /** One entry per DKIM-Signature; empty when unsigned. */
  readonly dkim: readonly DkimVerdict[];
  readonly dmarc: {
    readonly result: AuthResult;
    /** The From header's domain. */
    readonly domain?: string | undefined;
    /** The policy that applies (none, quarantine, reject), when a record was found. */
    readonly policy?: string | undefined;
  };
  readonly arc: { readonly result: AuthResult };
  /** The whole `Authentication-Results: <our host>; ...` header field, on one line. */
  readonly header: string;
  /** Set when the checks could not finish (timeout, internal error): verdicts are then temperror. */
  readonly error?: string | undefined;
}

/**
 * SendGrid's `dkim` field: not JSON, `{@example.com : pass}`, several signatures
 * `{@a.com : pass, @b.com : fail}`, and `none` for an unsigned message.
 */
export function sendgridDkimField(verdicts: AuthVerdicts): string {
  if (verdicts.error && !verdicts.dkim.length) return 'temperror';
  if (!verdicts.dkim.length) return 'none';
  return `{${verdicts.dkim.map((d) => `@${d.domain} : ${d.result}`).join(', ')}}`;
}

const SPF_RESULTS = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror']);

/** SendGrid's `SPF` field: one of the RFC 7208 result words. */
export function sendgridSpfField(verdicts: AuthVerdicts): string {
  const result = verdicts.spf.result.toLowerCase();
  return SPF_RESULTS.has(result) ? result : 'permerror';
}

/** The JSON `auth` field (mxhook extension): every verdict, without the header text. */
export function authJsonField(verdicts: AuthVerdicts): string {
  const { header: _header, ...rest } = verdicts;
  return JSON.stringify(rest);
}

/** Verdicts for a check that could not run to the end: nothing is known, so temperror throughout. */
export function unknownVerdicts(input: { clientIp: string; helo: string; mailFrom: string; authservId: string; error: string }): AuthVerdicts {
  return {
    spf: { result: 'temperror', clientIp: input.clientIp, helo: input.helo, mailFrom: input.mailFrom },
    dkim: [],
    dmarc: { result: 'temperror' },
    arc: { result: 'temperror' },
    header: `Authentication-Results: ${input.authservId}; spf=temperror (${input.error.replace(/[()\r\n]/g, ' ')}); dkim=temperror; dmarc=temperror; arc=temperror`,
    error: input.error,
  };
}
