/** JSON-lines logger (pino) on stdout; built at start, passed in, never global. */
import { pino, type Logger } from 'pino';
import { maskUrlCredentials } from '../config/redact.ts';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Belt and braces: credentials never reach a log line even if an object carrying them does.
    redact: { paths: ['url', '*.url', 'authorization', '*.authorization', 'apiKey', 'redisUrl'], censor: (value: unknown) => redactUrl(value) },
  });
}

function redactUrl(value: unknown): unknown {
  if (typeof value !== 'string') return '[redacted]';
  return maskUrlCredentials(value);
}
