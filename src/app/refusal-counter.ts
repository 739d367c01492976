/**
 * SMTP refusals counted per reason and hostname in memory and added to the message log's minute
 * counters every few seconds (store/message-log-retention.ts), so a flood of refused spam costs
 * one Redis write per distinct pair per flush, never one per refusal. The event webhook publishes
 * each minute's counts as `refused` events.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { KeySpace } from '../store/keys.ts';
import { logRefusal } from '../store/message-log-retention.ts';

/** Distinct pairs held between flushes; past it a pair counts as `reason|*`. */
const MAX_PAIRS = 1000;

export function startRefusalCounter(redis: Redis, keys: KeySpace, logger: Logger, flushMs = 2000): { count(reason: string, hostname?: string): void; stop(): Promise<void> } {
  let counts = new Map<string, number>();
  const flush = async () => {
    if (!counts.size) return;
    const now = Date.now();
    const pipe = redis.pipeline();
    for (const [pair, n] of counts) {
      const bar = pair.indexOf('|');
      logRefusal(pipe, keys, pair.slice(0, bar), pair.slice(bar + 1) || undefined, now, n);
    }
    counts = new Map();
    await pipe.exec().catch((err: unknown) => logger.warn({ event: 'refusal_count_failed', err: String(err) }));
  };
  const timer = setInterval(() => void flush(), flushMs);
  timer.unref();
  return {
    count(reason, hostname) {
      const host = (hostname ?? '').toLowerCase().slice(0, 253);
      let pair = `${reason}|${host}`;
      if (!counts.has(pair) && counts.size >= MAX_PAIRS) pair = `${reason}|*`;
      counts.set(pair, (counts.get(pair) ?? 0) + 1);
    },
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
