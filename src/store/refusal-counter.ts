/**
 * SMTP refusals counted in memory and written to Redis (logRefusal) in one pipeline a second, so
 * a refusal costs no round trip of its own and a flood of them costs one write a second. At most
 * REFUSALS_HELD distinct reason|hostname pairs wait between writes; past that they count as `reason|*`.
 */
import type { Redis } from './redis-client.ts';
import type { KeySpace } from './keys.ts';
import { logRefusal } from './message-log-retention.ts';

const REFUSALS_HELD = 1000;

export interface RefusalCounter {
  count(reason: string, hostname: string | undefined): void;
  /** Writes what is held; stop() also ends the timer (and writes the rest). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export function createRefusalCounter(redis: Redis, keys: KeySpace, options: { intervalMs?: number; onError?: (err: unknown) => void } = {}): RefusalCounter {
  let held = new Map<string, { reason: string; hostname: string | undefined; n: number }>();
  const flush = async () => {
    if (!held.size) return;
    const batch = held;
    held = new Map();
    const pipe = redis.pipeline();
    const now = Date.now();
    for (const { reason, hostname, n } of batch.values()) logRefusal(pipe, keys, reason, hostname, now, n);
    // Best effort: the counts are figures for people, never a reason to fail or retry SMTP.
    await pipe.exec().catch((err: unknown) => options.onError?.(err));
  };
  const timer = setInterval(() => void flush(), options.intervalMs ?? 1000);
  timer.unref();
  return {
    count(reason, hostname) {
      let key = `${reason}|${hostname ?? ''}`;
      if (!held.has(key) && held.size >= REFUSALS_HELD) {
        key = `${reason}|*`;
        hostname = '*';
      }
      const entry = held.get(key);
      if (entry) entry.n++;
      else held.set(key, { reason, hostname, n: 1 });
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
