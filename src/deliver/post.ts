/** One POST of a payload to an app with undici: timeouts, basic auth from the URL, no redirects. */
import { Agent, type Dispatcher } from 'undici';
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
  /** Path and query: what the request line asks for. */
  readonly path: string;
  /** Its host, brackets removed from an IPv6 literal (checked against the destination policy). */
  readonly host: string;
  /** The Authorization header the URL's credentials make, if it has any. */
  readonly authorization?: string;
}

export function postTarget(url: string): PostTarget {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const path = `${parsed.pathname}${parsed.search}`;
  if (!parsed.username && !parsed.password) return { url: parsed.href, origin: parsed.origin, path, host };
  const credentials = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href, origin: parsed.origin, path, host, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
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
    const response = await dispatchPost(agent, target, form.body, {
      'content-type': form.contentType,
      'content-length': String(form.contentLength),
      'user-agent': 'mxhook/0.1 (+inbound parse)',
      ...(target.authorization ? { authorization: target.authorization } : {}),
      ...headers,
    }, options.requestTimeoutMs);
    const bodySnippet = response.body.replace(/\s+/g, ' ').trim();
    const retryAfter = response.headers['retry-after'];
    return { kind: 'response', status: response.status, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, bodySnippet };
  } catch (err) {
    if (!Buffer.isBuffer(form.body)) form.body.destroy();
    const error = err as Error & { code?: string; cause?: { code?: string } };
    const code = error.name === 'TimeoutError' ? 'ETIMEDOUT' : (error.code ?? error.cause?.code);
    return { kind: 'error', code, message: error.message };
  }
}

/** The answer's first bytes kept (a dead letter's excerpt reads a few); the rest is read and dropped. */
const ANSWER_BYTES_KEPT = 512;

/**
 * The POST through undici's dispatch(): the answer's bytes arrive in callbacks, with none of
 * request()'s response stream, async iteration and abort-signal plumbing (3-4% of a worker's
 * profile under load). The whole exchange, connect to last byte, is bounded by `timeoutMs`; the body is
 * read to its end so the connection goes back to the pool.
 */
function dispatchPost(
  agent: Dispatcher, target: PostTarget, body: Dispatcher.DispatchOptions['body'], headers: Record<string, string>, timeoutMs: number,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    let status = 0;
    let answerHeaders: Record<string, string | string[] | undefined> = {};
    const kept: Buffer[] = [];
    let keptBytes = 0;
    const end = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve({ status, headers: answerHeaders, body: Buffer.concat(kept).subarray(0, ANSWER_BYTES_KEPT).toString('utf8') });
    };
    const timer = setTimeout(() => {
      const timeout = Object.assign(new Error(`no complete answer within ${timeoutMs} ms`), { name: 'TimeoutError' });
      // A request still waiting for a connection is aborted when it starts (onRequestStart).
      controller?.abort(timeout);
      end(timeout);
    }, timeoutMs);
    try {
      agent.dispatch({ origin: target.origin, path: target.path, method: 'POST', body, headers }, {
        onRequestStart(started) {
          controller = started;
          if (settled) started.abort(new Error('the attempt already ended'));
        },
        onResponseStart(_c, statusCode, responseHeaders) {
          // 1xx answers are not the answer.
          if (statusCode < 200) return;
          status = statusCode;
          answerHeaders = responseHeaders;
        },
        onResponseData(_c, chunk) {
          if (keptBytes < ANSWER_BYTES_KEPT) kept.push(chunk);
          keptBytes += chunk.length;
        },
        onResponseEnd: () => end(undefined),
        onResponseError: (_c, err) => end(err),
      });
    } catch (err) {
      end(err as Error);
    }
  });
}
