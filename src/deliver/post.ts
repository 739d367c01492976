/** One POST of a payload to an app with undici: timeouts, basic auth from the URL, no redirects. */
import { Agent, request } from 'undici';
import type { AttemptResult } from '../domain/outcome.ts';
import type { BufferedForm } from './encode-buffer.ts';
import type { EncodedForm } from './encode-form.ts';
import { DESTINATION_REFUSED } from '../domain/destination-policy.ts';
import { checkLiteralHost, guardedLookup } from './destination-guard.ts';

export interface PostOptions {
  /** Connect timeout, ms. Default 10 s. */
  readonly connectTimeoutMs: number;
  /** Whole request (connect to end of answer), ms. Default 30 s. */
  readonly requestTimeoutMs: number;
  /** Allow private and loopback destinations (metadata and link-local are never allowed). Default true. */
  readonly allowPrivateDestinations: boolean;
  /**
   * Characters of the app's answer kept in a dead letter's reason (attempt.ts), 0 for none.
   * Default 100 (MXHOOK_DEAD_LETTER_RESPONSE_EXCERPT).
   */
  readonly responseExcerptChars?: number;
}

/** A keep-alive pool per worker process, shared by every delivery. */
export function createDeliveryAgent(options: PostOptions): Agent {
  return new Agent({
    connect: { timeout: options.connectTimeoutMs, lookup: guardedLookup(options.allowPrivateDestinations) },
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
    keepAliveTimeout: 4_000,
    connections: 64,
  });
}

/** Where a route's POSTs go, from its URL parsed once per delivery. */
export interface PostTarget {
  /** The URL without credentials (safe to log). */
  readonly url: string;
  /** Its origin: the circuit breaker's key. */
  readonly origin: string;
  /** Its host, brackets removed from an IPv6 literal (checked against the destination policy). */
  readonly host: string;
  /** The Authorization header the URL's credentials make, if it has any. */
  readonly authorization?: string;
}

export function postTarget(url: string): PostTarget {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!parsed.username && !parsed.password) return { url: parsed.href, origin: parsed.origin, host };
  const credentials = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href, origin: parsed.origin, host, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

export async function postForm(
  agent: Agent,
  target: PostTarget,
  /** A Buffer body (small payloads) is written by undici in one go; a stream is piped. */
  form: EncodedForm | BufferedForm,
  headers: Record<string, string>,
  options: PostOptions,
): Promise<AttemptResult & { bodySnippet?: string }> {
  const literal = checkLiteralHost(target.host, options.allowPrivateDestinations);
  if (literal) {
    if (!Buffer.isBuffer(form.body)) form.body.destroy();
    return { kind: 'error', code: DESTINATION_REFUSED, message: literal.message };
  }
  try {
    const response = await request(target.url, {
      method: 'POST',
      dispatcher: agent,
      body: form.body,
      headers: {
        'content-type': form.contentType,
        'content-length': String(form.contentLength),
        'user-agent': 'mxhook/0.1 (+inbound parse)',
        ...(target.authorization ? { authorization: target.authorization } : {}),
        ...headers,
      },
      signal: AbortSignal.timeout(options.requestTimeoutMs),
    });
    const bodySnippet = (await readLimited(response.body, 512)).replace(/\s+/g, ' ').trim();
    const retryAfter = response.headers['retry-after'];
    return { kind: 'response', status: response.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, bodySnippet };
  } catch (err) {
    if (!Buffer.isBuffer(form.body)) form.body.destroy();
    const error = err as Error & { code?: string; cause?: { code?: string } };
    const code = error.name === 'TimeoutError' ? 'ETIMEDOUT' : (error.code ?? error.cause?.code);
    return { kind: 'error', code, message: error.message };
  }
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy?: () => void }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < limit) chunks.push(chunk);
    size += chunk.length;
    // Read to the end even past the limit, so the connection can be reused.
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}
