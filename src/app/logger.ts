/** JSON-lines logger (pino) on stdout; built at start, passed in, never global. */
import { pino, type DestinationStream, type Logger } from 'pino';
import { maskUrlCredentials } from '../config/redact.ts';

/** Keys whose values are URLs: shown with their credentials masked. */
const URL_KEYS = new Set(['url', 'redisUrl']);
/** Keys whose values are credentials: never shown. */
const SECRET_KEYS = new Set(['apiKey', 'authorization', 'password', 'secret']);

/**
 * `destination`: where lines go; tests pass a stream of their own. By default stdout, written
 * asynchronously, so a slow stdout (a pipe, a journal) does not hold the event loop; lines logged
 * while a write is under way go out with the next one. pino flushes what is left at exit.
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: false })): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Belt and braces: credentials never reach a log line even if an object carrying them does,
    // at the top of the line or one object down (e.g. a request's headers). Not pino's `redact`
    // option: it copied every line's object whether or not it held a secret (a sixth of all
    // memory allocated under load); this copies only a line that has one. pino does not pass a
    // child logger's bindings through it: ours carry ids only (delivery, message, component).
    formatters: { log: (object) => redactLogObject(object) },
  }, destination);
}

/**
 * `object` itself when nothing in it is a credential or a URL with one; else a copy with those
 * masked. `depth`: how many objects down it looks (one: a request's headers, a config's fields).
 */
export function redactLogObject(object: Record<string, unknown>, depth = 1): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in object) {
    const value = object[key];
    let shown = redactedValue(key, value);
    if (shown === value && depth > 0 && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      shown = redactLogObject(value as Record<string, unknown>, depth - 1);
    }
    if (shown !== value) (copy ??= { ...object })[key] = shown;
  }
  return copy ?? object;
}

function redactedValue(key: string, value: unknown): unknown {
  if (value === undefined) return value;
  if (SECRET_KEYS.has(key)) return '[redacted]';
  if (URL_KEYS.has(key)) return typeof value === 'string' ? maskUrlCredentials(value) : '[redacted]';
  return value;
}
