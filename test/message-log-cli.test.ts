/** `mxhook messages` against a real redis-server (REDIS_URL): list, show, raw bytes, redeliver, unknown ids. */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMessagesCommand } from '../src/app/commands/messages.ts';
import { loadConfig } from '../src/config/load.ts';
import { createAcceptMessage } from '../src/queue/accept.ts';
import { createDeliveryQueue } from '../src/queue/delivery-queue.ts';
import { createKeySpace } from '../src/store/keys.ts';
import { execOrThrow } from '../src/store/messages.ts';
import { logAccepted } from '../src/store/message-log.ts';
import { createRedis } from '../src/store/redis.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';

let server: TestRedis;
let redis: Redis;
const prefix = `t${randomBytes(4).toString('hex')}`;
const keys = createKeySpace(prefix);
const raw = Buffer.concat([Buffer.from('Subject: hi\r\n\r\n'), randomBytes(500)]);

beforeAll(async () => {
  server = await startTestRedis();
  redis = createRedis(server.socketPath, 'patient', 'test-cli-log', true);
  const queue = createDeliveryQueue(redis, keys);
  await createAcceptMessage(queue, redis, keys, { messageTtlMs: 8 * 86_400_000 })({ id: 'c1', raw, mailFrom: 'a@x.org', clientIp: '192.0.2.1', helo: 'h', receivedAt: 1000, deliveries: [{ hostname: 'in.example', recipients: ['r@in.example'] }] });
  await queue.close();
  const multi = redis.multi();
  logAccepted(multi, keys, { retentionMs: 86_400_000, maxRecords: 10 }, { id: 'c1', receivedAt: 1000, clientIp: '192.0.2.1', helo: 'h', mailFrom: 'a@x.org', recipients: { 'in.example': ['r@in.example'] }, size: raw.length, subject: 'hi' });
  await execOrThrow(multi);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.cleanup();
});

async function run(args: string[]) {
  const { config } = loadConfig(['--redis-url', server.socketPath, '--redis-prefix', prefix], {});
  let out = '';
  let err = '';
  const bytes: Buffer[] = [];
  const code = await runMessagesCommand(config, args, { out: (t) => { out += t; }, err: (t) => { err += t; }, raw: (b) => bytes.push(b) });
  return { code, out, err, raw: Buffer.concat(bytes) };
}

describe('mxhook messages', () => {
  it('lists, shows and prints the raw bytes; redelivers; unknown ids exit 1', async () => {
    const list = await run(['list', 'in.example', 'queued']);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^c1\t1970-01-01T00:00:01.000Z\tin\.example:queued\thi\n1 message\(s\)\n$/);
    expect(JSON.parse((await run(['show', 'c1'])).out).record.id).toBe('c1');
    expect((await run(['raw', 'c1'])).raw.equals(raw)).toBe(true);
    const again = await run(['redeliver', 'c1']);
    expect(again.out).toMatch(/^redelivered c1\.1 as [0-9a-z]+\.1\n$/);
    expect((await run(['show', 'nosuch'])).code).toBe(1);
    expect((await run(['bogus'])).code).toBe(2);
  });

  it('pages with --limit and the --cursor each page prints; bad values exit 2', async () => {
    const multi = redis.multi();
    for (const n of [1, 2, 3]) {
      logAccepted(multi, keys, { retentionMs: 86_400_000, maxRecords: 10 }, { id: `p${n}`, receivedAt: 2000 + n, clientIp: '192.0.2.1', helo: 'h', mailFrom: 'a@x.org', recipients: { 'paged.example': ['r@paged.example'] }, size: 10, subject: `page ${n}` });
    }
    await execOrThrow(multi);
    const first = await run(['list', 'paged.example', '--limit', '2']);
    expect(first.out.split('\n').slice(0, 2).map((l) => l.split('\t')[0])).toEqual(['p3', 'p2']);
    const next = /^more: (mxhook messages list .*)$/m.exec(first.out)![1].split(' ').slice(2);
    expect(next).toEqual(['list', 'paged.example', '--limit', '2', '--cursor', expect.any(String)]);
    const second = await run(next);
    expect(second.out).toMatch(/^p1\t.*\n1 message\(s\)\n$/);
    expect((await run(['list', '--limit', '0'])).code).toBe(2);
    expect((await run(['list', '--cursor', 'not-a-cursor'])).code).toBe(2);
  });
});
