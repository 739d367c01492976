/** JSON-lines logger (pino) on stdout; built at start, passed in, never global. */
import { pino, type DestinationStream, type Logger } from 'pino';
import { maskUrlCredentials } from '../config/redact.ts';

/** Keys whose values are URLs: shown with their credentials masked. */
const URL_KEYS = ['url', 'redisUrl'];
/** Keys whose values are credentials: never shown. */
const SECRET_KEYS = ['apiKey', 'authorization', 'password', 'secret'];

/**
 * `destination`: where lines go; tests pass a stream of their own. By default stdout, written
 * asynchronously: a line per message was a write system call per message (2-3% of each process
 * under load); now lines logged while a write is under way go out together with the next one.
 * pino flushes what is left when the process exits.
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: false })): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Belt and braces: credentials never reach a log line even if an object carrying them does,
    // at the top of the line or one object down (e.g. a request's headers).
    redact: { paths: [...URL_KEYS, ...SECRET_KEYS].flatMap((key) => [key, `*.${key}`]), censor: redactLogValue },
  }, destination);
}

function redactLogValue(value: unknown, path: string[]): unknown {
  if (typeof value === 'string' && URL_KEYS.includes(path[path.length - 1]!)) return maskUrlCredentials(value);
  return '[redacted]';
}
