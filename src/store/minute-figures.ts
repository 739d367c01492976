/**
 * The overview's per-minute figures (domain/overview.ts names the fields), counted in memory by
 * the process that sees each fact (the SMTP intake: mail in; a worker: deliveries, their latency,
 * failed attempts) and added to the minute's hash in Redis once a second, one script per minute
 * touched. So a message costs the figures no Redis command of its own; a process that dies loses
 * at most its last second of figures (they are charts, not accounts).
 */
import type { Redis } from './redis-client.ts';
import { latencyBucket, MINUTE_HOSTNAMES_MAX } from '../domain/overview.ts';
import type { KeySpace } from './keys.ts';
import { logKeys, MINUTE_FIGURES_TTL_S } from './message-log.ts';

export interface MinuteFigures {
  /** A message accepted (not a replay or redeliver), received at `at` ms. */
  received(at: number): void;
  /** A delivery delivered at `at`, `latencyMs` after its message was received. Once per delivery. */
  delivered(at: number, hostname: string, latencyMs: number): void;
  /** A failed attempt, ended at `at`. */
  failed(at: number, hostname: string): void;
  /** Adds what is held to Redis; stop() also ends the timer (and adds the rest). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * KEYS: the minute's hash. ARGV: ttl s, hostnames cap, then field, n pairs. A route field
 * (`hd.`/`hf.` + hostname) new to the minute counts as `hd.*`/`hf.*` once the minute holds the cap
 * of that kind (`n.hd.`/`n.hf.` count them), so a minute's memory is bounded.
 */
const ADD_SCRIPT = `
for i = 3, #ARGV, 2 do
  local field, n = ARGV[i], ARGV[i + 1]
  local kind = string.match(field, '^(h[df]%.)')
  if kind and redis.call('HEXISTS', KEYS[1], field) == 0 then
    if tonumber(redis.call('HGET', KEYS[1], 'n.' .. kind) or '0') >= tonumber(ARGV[2]) then field = kind .. '*'
    else redis.call('HINCRBY', KEYS[1], 'n.' .. kind, 1) end
  end
  redis.call('HINCRBY', KEYS[1], field, n)
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1`;

/** Distinct fields held per minute between flushes (a flood of hostnames folds into `*` here too). */
const FIELDS_HELD_MAX = 2 * MINUTE_HOSTNAMES_MAX + 64;

export function createMinuteFigures(redis: Redis, keys: KeySpace, options: { intervalMs?: number; onError?: (err: unknown) => void } = {}): MinuteFigures {
  let held = new Map<number, Map<string, number>>();
  const add = (at: number, field: string) => {
    const slot = Math.floor(at / 60_000);
    let minute = held.get(slot);
    if (!minute) held.set(slot, (minute = new Map()));
    if (!minute.has(field) && minute.size >= FIELDS_HELD_MAX && /^h[df]\./.test(field)) field = `${field.slice(0, 3)}*`;
    minute.set(field, (minute.get(field) ?? 0) + 1);
  };
  const flush = async () => {
    if (!held.size) return;
    const batch = held;
    held = new Map();
    const pipe = redis.pipeline();
    for (const [slot, fields] of batch) {
      pipe.eval(ADD_SCRIPT, 1, logKeys(keys).minute(slot), MINUTE_FIGURES_TTL_S, MINUTE_HOSTNAMES_MAX, ...[...fields].flat());
    }
    // Best effort: figures for people, never a reason to fail or retry anything.
    await pipe.exec().catch((err: unknown) => options.onError?.(err));
  };
  const timer = setInterval(() => void flush(), options.intervalMs ?? 1000);
  timer.unref();
  return {
    received: (at) => add(at, 'r'),
    delivered(at, hostname, latencyMs) {
      add(at, 'd');
      add(at, `l.${latencyBucket(latencyMs)}`);
      add(at, `hd.${hostname}`);
    },
    failed(at, hostname) {
      add(at, 'f');
      add(at, `hf.${hostname}`);
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
