/** The message log's store against a real redis-server: records, states, attempts, paging, the cap, events. */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageRecord } from '../src/domain/message-log.ts';
import { createKeySpace, type KeySpace } from '../src/store/keys.ts';
import { execOrThrow } from '../src/store/messages.ts';
import { getLoggedMessage, logAccepted, logAttempt, logAttemptEnded, logDeliveryState, logKeys } from '../src/store/message-log.ts';
import { acceptedEvent, readLogEvents } from '../src/store/message-log-events.ts';
import { listLoggedMessages } from '../src/store/message-log-query.ts';
import { createRedis } from '../src/store/redis.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';

let server: TestRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startTestRedis();
  redis = createRedis(server.socketPath, 'patient', 'test-log', true);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.cleanup();
});

const freshKeys = () => createKeySpace(`t${randomBytes(4).toString('hex')}`);
/** The log stream's events, as its readers get them. */
const streamed = async (keys: KeySpace) => (await readLogEvents(redis, keys, await redis.xrange(logKeys(keys).events, '-', '+'))).map((e) => JSON.parse(e.json) as Record<string, unknown>);
const options = { retentionMs: 3 * 86_400_000, maxRecords: 1000 };
const record = (id: string, receivedAt: number, over: Partial<MessageRecord> = {}): MessageRecord => ({
  id, receivedAt, clientIp: '192.0.2.1', helo: 'mx.sender.org', mailFrom: 'a@sender.org',
  recipients: { 'in.example': ['x@in.example'] }, size: 100, subject: `subject ${id}`, from: 'A <a@sender.org>', ...over,
});
async function accept(keys: KeySpace, r: MessageRecord, opts = options): Promise<void> {
  const multi = redis.multi();
  logAccepted(multi, keys, opts, r);
  await execOrThrow(multi);
}
async function step(build: (m: ReturnType<Redis['multi']>) => void): Promise<void> {
  const multi = redis.multi();
  build(multi);
  await execOrThrow(multi);
}

describe('message log records', () => {
  it('follows a delivery from queued through retrying to delivered, with its attempts', async () => {
    const keys = freshKeys();
    await accept(keys, record('m1', 1000));
    expect((await getLoggedMessage(redis, keys, 'm1'))!.deliveries[0]).toMatchObject({ id: 'm1.1', hostname: 'in.example', state: 'queued' });
    await step((m) => logDeliveryState(m, keys, 'm1.1', 'in.example', 1000, { kind: 'attempt-started' }, 2000));
    await step((m) => {
      logAttempt(m, keys, 'm1.1', 'in.example', { at: 2000, durationMs: 12, outcome: 'retry', status: 503, response: 'x'.repeat(5000), bytesSent: 900 });
      logDeliveryState(m, keys, 'm1.1', 'in.example', 1000, { kind: 'retry-scheduled', nextAttemptAt: 9000 }, 2012);
    });
    let got = await getLoggedMessage(redis, keys, 'm1');
    expect(got!.deliveries[0]).toMatchObject({ state: 'retrying', nextAttemptAt: 9000 });
    expect(got!.deliveries[0].attempts[0]).toMatchObject({ status: 503, bytesSent: 900 });
    expect(got!.deliveries[0].attempts[0].response).toHaveLength(1024);
    expect(await redis.zrange(logKeys(keys).stateIndex('retrying'), 0, -1)).toEqual(['m1']);
    await step((m) => {
      logAttempt(m, keys, 'm1.1', 'in.example', { at: 9000, durationMs: 5, outcome: 'delivered', status: 200, response: 'ok', bytesSent: 900 });
      logDeliveryState(m, keys, 'm1.1', 'in.example', 1000, { kind: 'delivered' }, 9005);
    });
    // A late "delivering" (lost race) does not overwrite the end.
    await step((m) => logDeliveryState(m, keys, 'm1.1', 'in.example', 1000, { kind: 'attempt-started' }, 9010));
    got = await getLoggedMessage(redis, keys, 'm1');
    expect(got!.deliveries[0].state).toBe('delivered');
    expect(got!.deliveries[0].nextAttemptAt).toBeUndefined();
    expect(got!.deliveries[0].attempts.map((a) => a.status)).toEqual([503, 200]);
    expect(await redis.zcard(logKeys(keys).stateIndex('retrying'))).toBe(0);
    const events = await streamed(keys);
    expect(events.map((e) => e.event)).toEqual([
      'message.accepted', 'delivery.delivering', 'delivery.attempt', 'delivery.retrying', 'delivery.attempt', 'delivery.delivered',
    ]);
  });

  it('an attempt and its move in one script: the attempt, the parsed facts, the state, its index and one event', async () => {
    const keys = freshKeys();
    await accept(keys, record('e1', 1000, { recipients: { 'in.example': ['x@in.example'], 'two.example': ['y@two.example'] } }));
    await step((m) => logAttemptEnded(m, keys, {
      deliveryId: 'e1.1', hostname: 'in.example', receivedAt: 1000, now: 2012,
      attempt: { at: 2000, durationMs: 12, outcome: 'retry', status: 503, bytesSent: 900 },
      event: { kind: 'retry-scheduled', nextAttemptAt: 9000 }, details: { attempt: 1, status: 503 }, parsed: { attachments: 2 },
    }));
    let got = (await getLoggedMessage(redis, keys, 'e1'))!;
    expect(got.deliveries[0]).toMatchObject({ state: 'retrying', nextAttemptAt: 9000, attempts: [{ status: 503, bytesSent: 900 }] });
    expect(got.deliveries[1].state).toBe('queued');
    expect(got.parsed).toEqual({ attachments: 2 });
    // The other delivery is still queued: a state=queued query finds the message too.
    expect((await listLoggedMessages(redis, keys, { state: 'queued' }, { limit: 10 })).result.map((m) => m.record.id)).toEqual(['e1']);
    expect(await redis.zrange(logKeys(keys).stateIndex('retrying'), 0, -1)).toEqual(['e1']);
    expect(await redis.exists(logKeys(keys).stateIndex('queued'))).toBe(0);
    await step((m) => logAttemptEnded(m, keys, {
      deliveryId: 'e1.1', hostname: 'in.example', receivedAt: 1000, now: 9005,
      attempt: { at: 9000, durationMs: 5, outcome: 'delivered', status: 200, bytesSent: 900 }, event: { kind: 'delivered' },
    }));
    // Not a valid move any more (delivered stays delivered): the attempt is kept, no event published.
    await step((m) => logAttemptEnded(m, keys, {
      deliveryId: 'e1.1', hostname: 'in.example', receivedAt: 1000, now: 9100,
      attempt: { at: 9090, durationMs: 10, outcome: 'retry', status: 500, bytesSent: 900 }, event: { kind: 'retry-scheduled', nextAttemptAt: 20_000 },
    }));
    got = (await getLoggedMessage(redis, keys, 'e1'))!;
    expect(got.deliveries[0].state).toBe('delivered');
    expect(got.deliveries[0].attempts.map((a) => a.status)).toEqual([503, 200, 500]);
    expect(await redis.zcard(logKeys(keys).stateIndex('retrying'))).toBe(0);
    const events = await streamed(keys);
    expect(events.map((e) => e.event)).toEqual(['message.accepted', 'delivery.retrying', 'delivery.delivered']);
    expect(events[1]).toMatchObject({ delivery_id: 'e1.1', attempt: 1, status: 503, next_attempt_at: new Date(9000).toISOString() });
  });

  it('the accepted event is published once: by the confirm (jobs exist) or by the first delivery write, whichever is first', async () => {
    const { confirmLogged, forgetLogged } = await import('../src/store/message-log.ts');
    const keys = freshKeys();
    const published = () => streamed(keys);
    const names = async () => (await published()).map((e) => e.event);
    const rules = { recipients: { 'in.example': ['support@in.example', 'bob@in.example'] }, from: 'A <a@sender.org>', subject: 'caf\u00e9 / "quoted"', replayOf: 'old.1' };
    const records = [record('c1', 1000), record('c2', 1_764_633_601_234, rules), record('c3', 1002)];
    const targets = [{ hostname: 'in.example', recipients: ['support@in.example'], rule: 'support' }, { hostname: 'in.example', recipients: ['bob@in.example'] }];
    await accept(keys, records[0]);
    await step((m) => logAccepted(m, keys, options, records[1], targets));
    await accept(keys, records[2]);
    expect(await names()).toEqual([]);
    await confirmLogged(redis, keys, 'c1');
    await confirmLogged(redis, keys, 'c1');
    expect(await names()).toEqual(['message.accepted']);
    // The stream holds a reference (`a` = the message id), read back as the event built from the record.
    expect((await redis.xrange(logKeys(keys).events, '-', '+'))[0][1]).toEqual(['a', 'c1']);
    expect((await published())[0]).toEqual(JSON.parse(acceptedEvent(records[0])));
    // The worker got to c2 first: its write publishes the accepted event before its own.
    await step((m) => logDeliveryState(m, keys, 'c2.1', 'in.example', records[1].receivedAt, { kind: 'attempt-started' }, 2000));
    await confirmLogged(redis, keys, 'c2');
    expect(await names()).toEqual(['message.accepted', 'message.accepted', 'delivery.delivering']);
    expect((await published())[1]).toEqual(JSON.parse(acceptedEvent(records[1], targets)));
    // An undone accept (the sender got 451) never publishes.
    await forgetLogged(redis, keys, 'c3');
    await confirmLogged(redis, keys, 'c3');
    expect(await names()).toHaveLength(3);
  });

  it('log writes go out by SHA on a connection of ours, not as the script text each time', async () => {
    const keys = freshKeys();
    const calls = async (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(await redis.info('commandstats'))?.[1] ?? 0);
    await accept(keys, record('s0', 1000));
    const [evalBefore, shaBefore] = [await calls('eval'), await calls('evalsha')];
    for (let i = 1; i <= 5; i++) await accept(keys, record(`s${i}`, 1000 + i));
    expect(await calls('eval')).toBe(evalBefore);
    expect(await calls('evalsha')).toBe(shaBefore + 5);
  });

  it('a log write on a missing record never fails the transaction it rides in', async () => {
    const keys = freshKeys();
    const multi = redis.multi();
    multi.set(`${keys.prefix}:other`, '1');
    logDeliveryState(multi, keys, 'nope.1', 'in.example', 1, { kind: 'delivered' });
    logAttempt(multi, keys, 'nope.1', 'in.example', { at: 1, durationMs: 1, outcome: 'delivered', bytesSent: 0 });
    await execOrThrow(multi);
    expect(await redis.get(`${keys.prefix}:other`)).toBe('1');
  });
});

describe('queries', () => {
  it('pages newest first with a cursor, by hostname and state, with filters', async () => {
    const keys = freshKeys();
    for (let i = 0; i < 25; i++) await accept(keys, record(`m${String(i).padStart(2, '0')}`, 1000 + Math.floor(i / 3), i % 2 ? { recipients: { 'b.example': ['z@b.example'] } } : {}));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await listLoggedMessages(redis, keys, {}, { limit: 7, cursor });
      seen.push(...page.result.map((m) => m.record.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    const all = Array.from({ length: 25 }, (_, i) => `m${String(i).padStart(2, '0')}`).reverse();
    expect(seen).toEqual(all);
    const b = await listLoggedMessages(redis, keys, { hostname: 'b.example' }, { limit: 100 });
    expect(b.result.map((m) => m.record.id)).toEqual(all.filter((id) => Number(id.slice(1)) % 2));
    expect(b.nextCursor).toBeNull();
    await step((m) => logDeliveryState(m, keys, 'm03.1', 'b.example', 1001, { kind: 'dead-lettered' }));
    expect((await listLoggedMessages(redis, keys, { state: 'dead-lettered' }, { limit: 10 })).result.map((m) => m.record.id)).toEqual(['m03']);
    expect((await listLoggedMessages(redis, keys, { subjectWords: ['m07'] }, { limit: 10 })).result.map((m) => m.record.id)).toEqual(['m07']);
    // A filter no index covers scans a bounded number of candidates, then hands back a cursor.
    const bounded = await listLoggedMessages(redis, keys, { subjectWords: ['m00'] }, { limit: 10, scanLimit: 5 });
    expect(bounded.result).toEqual([]);
    expect(bounded.nextCursor).not.toBeNull();
    expect((await listLoggedMessages(redis, keys, { since: 1007, until: 1007 }, { limit: 10 })).result.map((m) => m.record.id)).toEqual(['m23', 'm22', 'm21']);
  });
});

describe('the cap', () => {
  it('drops the oldest records past the cap, from every index, and counts the cuts', async () => {
    const keys = freshKeys();
    for (let i = 0; i < 8; i++) await accept(keys, record(`c${i}`, 1000 + i), { ...options, maxRecords: 5 });
    const k = logKeys(keys);
    expect(await redis.zrange(k.index, 0, -1)).toEqual(['c3', 'c4', 'c5', 'c6', 'c7']);
    expect(await redis.zrange(k.hostIndex('in.example'), 0, -1)).toEqual(['c3', 'c4', 'c5', 'c6', 'c7']);
    expect(await getLoggedMessage(redis, keys, 'c0')).toBeUndefined();
    expect(await redis.hget(k.cuts, 'cap')).toBe('3');
  });

  it('measures the bytes one record costs in Redis (record, indexes, expiry), with Redis\'s defaults and with the settings managed Redis uses', async () => {
    const { LOG_FRIENDLY_REDIS_SETTINGS } = await import('../src/store/managed-redis.ts');
    const measure = async () => {
      const keys = freshKeys();
      const k = logKeys(keys);
      const n = 200;
      for (let i = 0; i < n; i++) {
        const id = `${(1_764_000_000_000 + i).toString(36)}${randomBytes(8).toString('hex')}`;
        await accept(keys, record(id, 1_764_000_000_000 + i, { subject: 'Your invoice for November', messageIdHeader: `<${id}@sender.org>`, auth: { spf: 'pass', dkim: 'pass', dmarc: 'pass' } }));
        await step((m) => logAttemptEnded(m, keys, {
          deliveryId: `${id}.1`, hostname: 'in.example', receivedAt: 1_764_000_000_000 + i, parsed: { attachments: 1 },
          attempt: { at: Date.now(), durationMs: 12, outcome: 'delivered', status: 200, response: 'ok', bytesSent: 5200 }, event: { kind: 'delivered' },
        }));
      }
      const ids = await redis.zrange(k.index, 0, -1);
      let bytes = 0;
      for (const id of ids) bytes += Number(await redis.memory('USAGE', k.record(id)));
      const indexes = Number(await redis.memory('USAGE', k.index)) + Number(await redis.memory('USAGE', k.hostIndex('in.example')));
      return { perRecord: Math.round((bytes + indexes) / n), record: Math.round(bytes / n), indexes: Math.round(indexes / n) };
    };
    // This file's Redis is a managed one (test/helpers/redis.ts), so it has the settings; Redis's
    // own default first.
    await redis.config('SET', 'hash-max-ziplist-value', '64');
    const plain = await measure();
    for (const [name, value] of Object.entries(LOG_FRIENDLY_REDIS_SETTINGS)) await redis.config('SET', name, value);
    const tuned = await measure();
    console.log(`message log: bytes per delivered record, Redis defaults ${plain.perRecord} (record ${plain.record}, indexes ${plain.indexes}), ` +
      `managed Redis's settings ${tuned.perRecord} (record ${tuned.record}, indexes ${tuned.indexes})`);
    expect(plain.perRecord).toBeGreaterThan(100);
    expect(plain.perRecord).toBeLessThan(2048);
    // The compact encoding is what the setting is for: a record costs clearly less.
    expect(tuned.record).toBeLessThan(plain.record * 0.8);
  });
});

describe('retention', () => {
  it('drops index entries past the retention, under a lock, and counts them', async () => {
    const { trimMessageLog, readLogCuts } = await import('../src/store/message-log-retention.ts');
    const keys = freshKeys();
    for (let i = 0; i < 4; i++) await accept(keys, record(`r${i}`, 1000 + i * 1000));
    const cut = await trimMessageLog(redis, keys, { retentionMs: 2500, rawRetentionMs: 1000, lockMs: 60_000, now: 5000 });
    expect(cut).toEqual({ records: 2, raw: 0 });
    expect(await redis.zrange(logKeys(keys).index, 0, -1)).toEqual(['r2', 'r3']);
    expect(await redis.zrange(logKeys(keys).hostIndex('in.example'), 0, -1)).toEqual(['r2', 'r3']);
    expect(await trimMessageLog(redis, keys, { retentionMs: 2500, rawRetentionMs: 1000, lockMs: 60_000, now: 5000 })).toBeUndefined();
    expect((await readLogCuts(redis, keys)).retention).toBe(2);
  });

  it('keeps the raw message after its last delivery, under a byte cap that drops the oldest', async () => {
    // The worker's own release (store/messages.ts) with the log's keep-raw option.
    const { readLogCuts } = await import('../src/store/message-log-retention.ts');
    const { releaseDelivery } = await import('../src/store/messages.ts');
    const keys = freshKeys();
    for (const id of ['k1', 'k2', 'k3']) {
      await redis.set(keys.messageRaw(id), Buffer.alloc(400, 'a'));
      await redis.hset(keys.messageMeta(id), 'meta', '{}');
      await redis.sadd(`${keys.prefix}:msg:${id}:pending`, `${id}.1`, `${id}.2`);
    }
    const release = (id: string, d: string, keep = true) => releaseDelivery(redis, keys, id, d, [], keep ? { ttlMs: 86_400_000, maxBytes: 1000 } : undefined);
    await release('k1', 'k1.1');
    expect(await redis.ttl(keys.messageRaw('k1'))).toBe(-1); // a delivery is still pending
    await release('k1', 'k1.2');
    expect(await redis.ttl(keys.messageRaw('k1'))).toBeGreaterThan(86_000);
    await release('k2', 'k2.1');
    await release('k2', 'k2.2');
    await release('k3', 'k3.1');
    await release('k3', 'k3.2');
    expect(await redis.exists(keys.messageRaw('k1'))).toBe(0); // 1,200 bytes > 1,000: the oldest went
    expect(await redis.exists(keys.messageRaw('k3'))).toBe(1);
    expect((await readLogCuts(redis, keys)).rawCap).toBe(1);
    await redis.set(keys.messageRaw('k4'), 'x');
    await redis.sadd(`${keys.prefix}:msg:k4:pending`, 'k4.1');
    await release('k4', 'k4.1', false);
    expect(await redis.exists(keys.messageRaw('k4'))).toBe(0);
  });

  it('deletes a kept raw message at the trim after its keep time; its longer store TTL stays as the backstop', async () => {
    const { trimMessageLog } = await import('../src/store/message-log-retention.ts');
    const { releaseDelivery } = await import('../src/store/messages.ts');
    const keys = freshKeys();
    const storeTtl = 8 * 86_400;
    for (const id of ['t1', 't2']) {
      await redis.set(keys.messageRaw(id), Buffer.alloc(100, 'c'), 'EX', storeTtl);
      await redis.hset(keys.messageMeta(id), 'meta', '{}');
      await redis.expire(keys.messageMeta(id), storeTtl);
      await redis.sadd(`${keys.prefix}:msg:${id}:pending`, `${id}.1`);
    }
    const keptAt = Date.now();
    await releaseDelivery(redis, keys, 't1', 't1.1', [], { ttlMs: 3_600_000, maxBytes: 1_000_000 });
    // The release does not shorten the store's TTL (no write), only lengthens a shorter one.
    expect(await redis.ttl(keys.messageRaw('t1'))).toBeGreaterThan(storeTtl - 60);
    await releaseDelivery(redis, keys, 't2', 't2.1', [], { ttlMs: 10 * 86_400_000, maxBytes: 1_000_000 });
    expect(await redis.ttl(keys.messageMeta('t2'))).toBeGreaterThan(storeTtl + 60);
    // Within the keep time (one setting: the trim's) nothing goes; past it, both go (raw and meta)
    // and their bytes are given back.
    expect(await trimMessageLog(redis, keys, { retentionMs: 86_400_000, rawRetentionMs: 3_600_000, lockMs: 1, now: keptAt + 3_000_000 })).toEqual({ records: 0, raw: 0 });
    expect(await redis.exists(keys.messageRaw('t1'), keys.messageMeta('t1'), keys.messageRaw('t2'), keys.messageMeta('t2'))).toBe(4);
    await new Promise((resolve) => setTimeout(resolve, 5)); // the trim lock (1 ms) lapses
    expect(await trimMessageLog(redis, keys, { retentionMs: 86_400_000, rawRetentionMs: 3_600_000, lockMs: 1, now: keptAt + 3_700_000 })).toEqual({ records: 0, raw: 2 });
    expect(await redis.exists(keys.messageRaw('t1'), keys.messageMeta('t1'), keys.messageRaw('t2'), keys.messageMeta('t2'))).toBe(0);
    expect(await redis.get(`${keys.prefix}:log:raw-bytes`)).toBe('0');
  });

  it('evicts the oldest kept raw messages on demand, and never a message still being delivered', async () => {
    const { evictKeptRaw, readLogCuts } = await import('../src/store/message-log-retention.ts');
    const { releaseDelivery } = await import('../src/store/messages.ts');
    const keys = freshKeys();
    for (const id of ['e1', 'e2', 'e3', 'busy']) {
      await redis.set(keys.messageRaw(id), Buffer.alloc(300, 'b'));
      await redis.hset(keys.messageMeta(id), 'meta', '{}');
      await redis.sadd(`${keys.prefix}:msg:${id}:pending`, `${id}.1`);
    }
    for (const id of ['e1', 'e2', 'e3']) await releaseDelivery(redis, keys, id, `${id}.1`, [], { ttlMs: 86_400_000, maxBytes: 1_000_000 });
    expect(await evictKeptRaw(redis, keys, 2)).toEqual({ messages: 2, bytes: 600 });
    expect(await redis.exists(keys.messageRaw('e1'), keys.messageMeta('e1'), keys.messageRaw('e2'))).toBe(0);
    expect(await redis.exists(keys.messageRaw('e3'))).toBe(1);
    expect(await redis.get(`${keys.prefix}:log:raw-bytes`)).toBe('300');
    expect(await evictKeptRaw(redis, keys, 10)).toEqual({ messages: 1, bytes: 300 });
    expect(await evictKeptRaw(redis, keys, 10)).toEqual({ messages: 0, bytes: 0 });
    expect(await redis.exists(keys.messageRaw('busy'))).toBe(1);
    expect((await readLogCuts(redis, keys)).rawMemory).toBe(3);
  });

  it('counts refusals per reason and hostname, with a bounded number of hostnames', async () => {
    const { logRefusal, readRefusals } = await import('../src/store/message-log-retention.ts');
    const keys = freshKeys();
    await step((m) => {
      logRefusal(m, keys, 'RELAY_DENIED', 'spam.example', 120_000);
      logRefusal(m, keys, 'RELAY_DENIED', 'spam.example', 130_000);
      logRefusal(m, keys, 'MESSAGE_TOO_BIG', 'in.example', 190_000);
    });
    expect(await readRefusals(redis, keys, 'm', 0, 200_000)).toEqual({ 'RELAY_DENIED|spam.example': 2, 'MESSAGE_TOO_BIG|in.example': 1 });
    expect(await readRefusals(redis, keys, 'm', 180_000, 200_000)).toEqual({ 'MESSAGE_TOO_BIG|in.example': 1 });
  });
});

describe('redeliver', () => {
  it('makes a new delivery job of a kept raw message, with the old delivery id as replay-of', async () => {
    const { createDeliveryQueue } = await import('../src/queue/delivery-queue.ts');
    const { createAcceptMessage } = await import('../src/queue/accept.ts');
    const { redeliver, loadKeptRaw } = await import('../src/queue/redeliver.ts');
    const keys = freshKeys();
    const bull = createRedis(server.socketPath, 'patient', 'test-log-bull');
    const queue = createDeliveryQueue(bull, keys);
    try {
      const accept = createAcceptMessage(queue, redis, keys, { messageTtlMs: 8 * 86_400_000 });
      const raw = randomBytes(3000);
      await accept({ id: 'orig', raw, mailFrom: 'a@x.org', clientIp: '192.0.2.9', helo: 'h', receivedAt: 1000, deliveries: [{ hostname: 'in.example', recipients: ['r@in.example'] }] });
      expect((await loadKeptRaw(redis, keys, 'orig', []))!.raw.equals(raw)).toBe(true);
      const next = await redeliver(redis, keys, accept, { messageId: 'orig', deliveryId: 'orig.1', hostname: 'in.example' });
      expect(next).toMatch(/\.1$/);
      const job = await queue.getJob(next!);
      expect(job!.data.hostname).toBe('in.example');
      const copy = await loadKeptRaw(redis, keys, job!.data.messageId, []);
      expect(copy!.raw.equals(raw)).toBe(true);
      expect(copy!.meta.replayOf).toBe('orig.1');
      expect(await redeliver(redis, keys, accept, { messageId: 'gone', deliveryId: 'gone.1', hostname: 'in.example' })).toBeUndefined();
    } finally {
      await queue.close();
      bull.disconnect();
    }
  });
});
