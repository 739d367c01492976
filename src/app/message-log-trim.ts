/** Runs the message log's trim every `intervalMs` (one process at a time wins its lock); returns stop(). */
import type { Redis } from '../store/redis-client.ts';
import type { Logger } from 'pino';
import type { KeySpace } from '../store/keys.ts';
import { trimMessageLog } from '../store/message-log-retention.ts';

export function startMessageLogTrim(
  redis: Redis, keys: KeySpace, options: { retentionMs: number; rawRetentionMs: number; intervalMs?: number; logger: Logger },
): () => void {
  const intervalMs = options.intervalMs ?? 60_000;
  const timer = setInterval(() => {
    trimMessageLog(redis, keys, { retentionMs: options.retentionMs, rawRetentionMs: options.rawRetentionMs, lockMs: intervalMs - 1000 })
      .then((cut) => { if (cut && (cut.records || cut.raw)) options.logger.info({ event: 'message_log_trimmed', ...cut }); })
      .catch((err: unknown) => options.logger.warn({ event: 'message_log_trim_failed', err: String(err) }));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
