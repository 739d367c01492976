/** The messages API plugin through Fastify's inject(), on a real redis-server, with the API-key check stubbed as the real one works. */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messagesApi } from '../src/api/messages.ts';
import { createAcceptMessage } from '../src/queue/accept.ts';
import { createDeliveryQueue } from '../src/queue/delivery-queue.ts';
import { createKeySpace } from '../src/store/keys.ts';
import { singleShardDirectory } from '../src/store/shards.ts';
import { execOrThrow } from '../src/store/messages.ts';
import { logAccepted } from '../src/store/message-log.ts';
import { createRedis } from '../src/store/redis.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';

let server: TestRedis;
let redis: Redis;
let bull: Redis;
let app: FastifyInstance;
let queue: ReturnType<typeof createDeliveryQueue>;
const keys = createKeySpace(`t${randomBytes(4).toString('hex')}`);
const KEY = 'test-key';
const BASE = '/v3/user/webhooks/parse';
const raw = Buffer.concat([Buffer.from('Received: x\r\nSubject: =?UTF-8?Q?caf=C3=A9_bill?=\r\n\r\n'), randomBytes(2000)]);

beforeAll(async () => {
  server = await startTestRedis();
  redis = createRedis(server.socketPath, 'patient', 'test-api-log', true);
  bull = createRedis(server.socketPath, 'patient', 'test-api-bull');
  queue = createDeliveryQueue(bull, keys);
  const accept = createAcceptMessage(queue, redis, keys, { messageTtlMs: 8 * 86_400_000 });
  app = Fastify();
  await app.register(async (scope) => {
    // Mirrors the real check: Bearer key, else 401 in the API's error shape.
    scope.addHook('onRequest', async (req, reply) => {
      if (req.headers.authorization !== `Bearer ${KEY}`) return reply.code(401).send({ errors: [{ field: null, message: 'authorization required: send the API key as a Bearer token' }] });
    });
    await scope.register(messagesApi, { redis, shards: singleShardDirectory(keys), accept });
  }, { prefix: BASE });
  await accept({ id: 'm1', raw, mailFrom: 'a@x.org', clientIp: '192.0.2.1', helo: 'h', receivedAt: 1000, deliveries: [{ hostname: 'in.example', recipients: ['r@in.example'] }] });
  const multi = redis.multi();
  logAccepted(multi, keys, { retentionMs: 86_400_000, maxRecords: 100 }, {
    id: 'm1', receivedAt: 1000, clientIp: '192.0.2.1', helo: 'h', mailFrom: 'a@x.org', recipients: { 'in.example': ['r@in.example'] }, size: raw.length, subject: '=?UTF-8?Q?caf=C3=A9_bill?=',
  });
  await execOrThrow(multi);
});
afterAll(async () => {
  await app?.close();
  await queue?.close();
  bull?.disconnect();
  redis?.disconnect();
  await server?.cleanup();
});

const get = (url: string, key = KEY) => app.inject({ method: 'GET', url: BASE + url, headers: { authorization: `Bearer ${key}` } });

describe('messages API', () => {
  it('lists with filters, subject decoded', async () => {
    const res = await get('/messages?hostname=in.example&state=queued&subject=caf%C3%A9');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.result.map((m: { id: string }) => m.id)).toEqual(['m1']);
    expect(body.result[0].subject).toBe('café bill');
    expect(body.result[0].deliveries[0]).toMatchObject({ id: 'm1.1', state: 'queued' });
    expect(body.next_cursor).toBeNull();
    expect((await get('/messages?subject=nothing')).json().result).toEqual([]);
  });

  it('answers precise 400s for bad filters and 404 for unknown ids, 401 without the key', async () => {
    const bad = await get('/messages?state=lost');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('state');
    expect((await get('/messages?limit=0')).json().errors[0].field).toBe('limit');
    expect((await get('/messages?since=yesterday')).json()).toEqual({ errors: [{ field: 'since', message: expect.stringContaining('ISO 8601') }] });
    expect((await get('/messages?cursor=zzz')).json().errors[0].field).toBe('cursor');
    expect((await get('/messages?since=5&until=4')).statusCode).toBe(400);
    const missing = await get('/messages/nosuch');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().errors[0].field).toBe('id');
    expect((await get('/messages/BAD!')).statusCode).toBe(400);
    expect((await get('/messages', 'wrong')).statusCode).toBe(401);
  });

  it('serves the exact raw bytes as message/rfc822', async () => {
    const res = await get('/messages/m1/raw');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^message\/rfc822/);
    expect(res.rawPayload.equals(raw)).toBe(true);
  });

  it('redeliver makes a new delivery job replaying the old one, and marks the old one replayed', async () => {
    const res = await app.inject({ method: 'POST', url: `${BASE}/messages/m1/redeliver`, headers: { authorization: `Bearer ${KEY}` } });
    expect(res.statusCode).toBe(202);
    const [{ delivery_id, new_delivery_id }] = res.json().redelivered;
    expect(delivery_id).toBe('m1.1');
    const job = await queue.getJob(new_delivery_id);
    expect(job!.data.hostname).toBe('in.example');
    expect(JSON.parse((await redis.hget(keys.messageMeta(job!.data.messageId), 'meta'))!).replayOf).toBe('m1.1');
    // queued -> replayed is not a valid move: the log keeps "queued" until the first delivery ends.
    expect((await get('/messages/m1')).json().deliveries[0].state).toBe('queued');
  });
});

describe('live events', () => {
  it('an SSE client receives an event written after it connects, and its connection ends with it', async () => {
    const { logDeliveryState } = await import('../src/store/message-log.ts');
    const http = await import('node:http');
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const received = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${address}${BASE}/events`, { headers: { authorization: `Bearer ${KEY}` } }, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes(': connected')) {
            if (!text.includes('event: delivery.delivering')) {
              const multi = redis.multi();
              logDeliveryState(multi, keys, 'm1.1', 'in.example', 1000, { kind: 'attempt-started' });
              void multi.exec();
            }
          }
          if (text.includes('\n\n', text.indexOf('event: delivery.delivering'))  && text.includes('event: delivery.delivering')) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    });
    const data = /event: delivery\.delivering\ndata: (.*)\n/.exec(received)![1];
    expect(JSON.parse(data)).toMatchObject({ event: 'delivery.delivering', mxhook_message_id: 'm1', delivery_id: 'm1.1', hostname: 'in.example' });
  });
});
