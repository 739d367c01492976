/**
 * A message-log page view is bounded work, whatever the log holds: every Redis command a query
 * issues (seen through MONITOR on a dedicated connection, commands run by scripts included) is
 * counted at 20,000 records and again at 40,000, and must be the same, with each range read
 * bounded by a LIMIT or a narrow rank range. A query that read a whole index, or a record per
 * logged message, fails here. The timings at 1,000,000 records: bench/message-log-scale.mjs.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageFilter } from '../src/domain/message-log.ts';
import { createKeySpace } from '../src/store/keys.ts';
import { getLoggedMessage, logAccepted, logDeliveryState, logKeys } from '../src/store/message-log.ts';
import { listLoggedMessages } from '../src/store/message-log-query.ts';
import { createRedis } from '../src/store/redis.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';

let server: TestRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startTestRedis();
  redis = createRedis(server.socketPath, 'patient', 'test-log-scale');
});
afterAll(async () => {
  redis?.disconnect();
  await server?.cleanup();
});

const keys = createKeySpace(`t${randomBytes(4).toString('hex')}`);
const options = { retentionMs: 30 * 86_400_000, maxRecords: 100_000 };
const HOSTS = ['a.example', 'b.example', 'c.example'];
const BASE = Date.now() - 86_400_000;
const STEP_MS = 20;

/** Logs `count` messages; `offset` 0 then 1 puts the second fill between the first's, in the same time span. */
async function fill(count: number, offset: number): Promise<void> {
  for (let from = 0; from < count; from += 2000) {
    const pipe = redis.pipeline();
    for (let j = from; j < Math.min(count, from + 2000); j++) {
      const at = BASE + (j * 2 + offset) * STEP_MS;
      const id = `${at.toString(36)}x${offset}${j.toString(36)}`;
      const hostname = HOSTS[j % HOSTS.length];
      logAccepted(pipe, keys, options, {
        id, receivedAt: at, clientIp: '192.0.2.1', helo: 'mx.sender.org', mailFrom: `s${j % 300}@sender.org`,
        recipients: { [hostname]: [`user${j % 5000}@${hostname}`] }, size: 3000, subject: `order ${j % 7 ? 'shipped' : 'invoice'} #${j}`, from: 'Shop <s@sender.org>',
      });
      const kind = j % 100 < 5 ? 'retry-scheduled' : j % 100 < 8 ? 'dead-lettered' : 'delivered';
      logDeliveryState(pipe, keys, `${id}.1`, hostname, at, kind === 'retry-scheduled' ? { kind, nextAttemptAt: at + 60_000 } : { kind }, at + 10);
    }
    const replies = (await pipe.exec()) ?? [];
    expect(replies.filter(([err, ok]) => err || ok !== 1)).toEqual([]);
  }
}

/** The commands Redis ran while `run` ran, from MONITOR, between two marker ECHOs. */
async function commandsOf(monitor: Redis, run: () => Promise<unknown>): Promise<string[][]> {
  const marker = `mark-${randomBytes(4).toString('hex')}`;
  const seen: string[][] = [];
  let recording = false;
  let onLine: (time: string, args: string[]) => void = () => {};
  const ended = new Promise<void>((resolve) => {
    onLine = (_time, args) => {
      const echo = args[0]?.toLowerCase() === 'echo';
      if (echo && args[1] === `${marker}-start`) recording = true;
      else if (echo && args[1] === `${marker}-end`) resolve();
      else if (recording) seen.push(args);
    };
  });
  monitor.on('monitor', onLine);
  try {
    await redis.echo(`${marker}-start`);
    await run();
    await redis.echo(`${marker}-end`);
    await ended;
  } finally {
    monitor.off('monitor', onLine);
  }
  return seen;
}

const count = (commands: string[][]) => {
  const by: Record<string, number> = {};
  for (const [name] of commands) by[name.toLowerCase()] = (by[name.toLowerCase()] ?? 0) + 1;
  return by;
};

/** A range read that is unbounded: no LIMIT on a by-score read, or a rank range wider than a page batch. */
function unboundedReads(commands: string[][]): string[][] {
  return commands.filter(([name, ...args]) => {
    const cmd = name.toLowerCase();
    if (['keys', 'scan', 'smembers', 'sscan', 'hkeys', 'zscan'].includes(cmd)) return true;
    if (['zrangebyscore', 'zrevrangebyscore', 'zrangebylex', 'zrevrangebylex'].includes(cmd)) {
      const limit = args.findIndex((a) => a.toUpperCase() === 'LIMIT');
      return limit < 0 || Number(args[limit + 2]) > 200;
    }
    if (cmd === 'zrange' || cmd === 'zrevrange' || cmd === 'lrange') {
      const [start, stop] = [Number(args[1]), Number(args[2])];
      return stop < 0 || stop - start > 200;
    }
    return false;
  });
}

const LIMIT = 50;
const page = (filter: MessageFilter, cursor?: string) => listLoggedMessages(redis, keys, filter, { limit: LIMIT, cursor });

/** Each query kind's commands at the log's current size (cursors and ids picked outside the count). */
async function measureQueries(total: number) {
  const k = logKeys(keys);
  const [midId, midScore] = await redis.zrevrange(k.index, Math.floor(total / 2), Math.floor(total / 2), 'WITHSCORES');
  const span = total * STEP_MS;
  const runs: Record<string, () => Promise<{ result: unknown[] } | unknown>> = {
    'first page': () => page({}),
    'deep cursor': () => page({}, `${midScore}:${midId}`),
    hostname: () => page({ hostname: 'b.example' }),
    'hostname, deep cursor': () => page({ hostname: 'b.example' }, `${midScore}:${midId}`),
    'state retrying': () => page({ state: 'retrying' }),
    'state dead-lettered': () => page({ state: 'dead-lettered' }),
    'state delivered': () => page({ state: 'delivered' }),
    'time range': () => page({ since: BASE + span * 0.4, until: BASE + span * 0.5 }),
    'recipient, no match (unindexed)': () => page({ recipient: 'nobody@' }),
    'subject words (unindexed)': () => page({ subjectWords: ['invoice', '#1'] }),
    'get one': () => getLoggedMessage(redis, keys, midId),
  };
  const out: Record<string, { counts: Record<string, number>; total: number; unbounded: string[][]; returned: number }> = {};
  // Opened only now: MONITOR during the fill would slow it down a lot.
  const monitor = await createRedis(server.socketPath, 'patient', 'test-log-scale-monitor').monitor();
  try {
    for (const [name, run] of Object.entries(runs)) {
      let returned = 0;
      const commands = await commandsOf(monitor, async () => {
        const r = await run();
        returned = (r as { result?: unknown[] })?.result?.length ?? (r ? 1 : 0);
      });
      out[name] = { counts: count(commands), total: commands.length, unbounded: unboundedReads(commands), returned };
    }
  } finally {
    monitor.disconnect();
  }
  return out;
}

describe('message log at scale', () => {
  it('a page view issues the same bounded Redis commands at 20,000 and at 40,000 records', async () => {
    await fill(20_000, 0);
    const small = await measureQueries(20_000);
    await fill(20_000, 1);
    expect(await redis.zcard(logKeys(keys).index)).toBe(40_000);
    const large = await measureQueries(40_000);
    for (const [name, at20k] of Object.entries(small)) {
      const at40k = large[name];
      expect({ name, counts: at40k.counts }).toEqual({ name, counts: at20k.counts });
      expect({ name, unbounded: at40k.unbounded }).toEqual({ name, unbounded: [] });
      // At most the 1,000 candidates an unindexed filter checks, in batches of 200, per page.
      expect(at40k.total, name).toBeLessThanOrEqual(1000 + 10);
    }
    // Real pages came back (an empty index would be bounded too).
    for (const name of ['first page', 'deep cursor', 'hostname', 'state retrying', 'state dead-lettered', 'state delivered', 'time range']) {
      expect(large[name].returned, name).toBe(LIMIT);
    }
    expect(large['get one'].total).toBe(1);
    expect(large['recipient, no match (unindexed)'].counts.hgetall).toBe(1000);
  });
});
