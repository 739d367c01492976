/** Dead letters (docs/delivery.md): list, show, replay by API and CLI, purge, route stats, expiry. */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const PDF = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 17) % 256));

let redis: TestRedis;
let mx: TestMxhook;
let app: Receiver;
let accepting = false;

const api = async (method: string, path: string) => {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks/parse${path}`, { method, headers: { authorization: `Bearer ${TEST_API_KEY}` } });
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
};
const cli = (args: string[]) => promisify(execFile)(process.execPath, [path.resolve('src/cli.ts'), ...args, '--redis-url', redis.socketPath, '--redis-prefix', mx.keys.prefix]);

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath);
  // Refuses with 400 until the test "fixes" the app.
  app = await startReceiver(() => (accepting ? { status: 200 } : { status: 400, body: 'no such mailbox' }));
  await mx.addRoute('dlq.example', app.url);
  await mx.addRoute('other-dlq.example', app.url);
});
afterAll(async () => {
  await mx?.close();
  await app?.close();
  await redis?.cleanup();
});

async function sendAndDie(to: string, subject: string): Promise<string> {
  const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to, subject, text: 'kept body', attachments: [{ filename: 'doc.pdf', content: PDF }] });
  const id = /queued as (\w+)/.exec(info.response)![1];
  await expect.poll(async () => (await api('GET', `/dead-letters/${id}.1`)).status, { timeout: 10_000 }).toBe(200);
  return `${id}.1`;
}

describe('dead letters', () => {
  it('lists (by hostname, paged) and shows why a delivery failed with every attempt', async () => {
    const a = await sendAndDie('x@dlq.example', 'dead one');
    const b = await sendAndDie('y@other-dlq.example', 'dead two');
    const all = await api('GET', '/dead-letters?limit=10');
    expect(all.body.result.map((d: { deliveryId: string }) => d.deliveryId)).toEqual(expect.arrayContaining([a, b]));
    const mine = await api('GET', '/dead-letters?hostname=dlq.example');
    expect(mine.body.result.map((d: { deliveryId: string }) => d.deliveryId)).toEqual([a]);
    const page = await api('GET', '/dead-letters?limit=1&offset=0');
    expect(page.body.result).toHaveLength(1);
    expect(page.body.total).toBeGreaterThanOrEqual(2);
    const shown = await api('GET', `/dead-letters/${a}`);
    expect(shown.body).toMatchObject({ deliveryId: a, hostname: 'dlq.example', reason: 'HTTP 400; response excerpt: "no such mailbox"', recipients: ['x@dlq.example'] });
    expect(shown.body.attempts).toEqual([expect.objectContaining({ attempt: 1, status: 400, outcome: 'permanent', at: expect.any(String) })]);
    expect((await api('GET', '/dead-letters/nope.1')).status).toBe(404);
  });

  it('replay delivers the kept message again with the original payload, then drops the dead letter', async () => {
    const dead = await sendAndDie('z@dlq.example', 'replay me');
    const original = app.posts.find((p) => p.fields.subject === 'replay me')!;
    accepting = true;
    try {
      const before = app.posts.length;
      const res = await api('POST', `/dead-letters/${dead}/replay`);
      expect(res.status).toBe(202);
      const newId = res.body.replayed[0].delivery_id;
      expect(newId).not.toBe(dead);
      await app.waitFor(before + 1);
      const replayed = app.posts.at(-1)!;
      expect(replayed.headers['x-mxhook-replay-of']).toBe(dead);
      expect(replayed.headers['x-mxhook-delivery-id']).toBe(newId);
      for (const field of ['subject', 'from', 'to', 'text', 'envelope', 'attachments', 'attachment-info', 'headers', 'SPF', 'dkim', 'auth']) {
        expect(replayed.fields[field]).toBe(original.fields[field]);
      }
      expect(sha256(replayed.files.attachment1.data)).toBe(sha256(PDF));
      expect((await api('GET', `/dead-letters/${dead}`)).status).toBe(404);
    } finally {
      accepting = false;
    }
  });

  it('route stats count received, delivered, retrying and dead', async () => {
    await expect.poll(async () => (await api('GET', '/settings/dlq.example/stats')).body, { timeout: 10_000 })
      .toEqual({ received: 2, delivered: 1, retrying: 0, dead: 2 });
  });

  it('CLI: list, show, replay a whole route, purge', async () => {
    const d1 = await sendAndDie('c1@other-dlq.example', 'cli one');
    const listed = await cli(['dead', 'list', 'other-dlq.example']);
    expect(listed.stdout).toContain(d1);
    expect((await cli(['dead', 'show', d1])).stdout).toContain('"reason": "HTTP 400; response excerpt: \\"no such mailbox\\""');
    accepting = true;
    try {
      const before = app.posts.length;
      const replayed = await cli(['dead', 'replay', '--route', 'other-dlq.example']);
      expect(replayed.stdout).toMatch(/replayed 2\n$/);
      await app.waitFor(before + 2);
    } finally {
      accepting = false;
    }
    const d2 = await sendAndDie('c2@other-dlq.example', 'cli two');
    expect((await cli(['dead', 'purge', d2])).stdout).toBe('purged 1\n');
    expect((await api('GET', `/dead-letters/${d2}`)).status).toBe(404);
    await sendAndDie('c3@other-dlq.example', 'cli three');
    expect((await api('DELETE', '/dead-letters?hostname=other-dlq.example')).body).toEqual({ purged: 1 });
    expect((await api('GET', '/dead-letters?hostname=other-dlq.example')).body.total).toBe(0);
  });
});

describe('retention', () => {
  it('expired dead letters and their raw messages are removed on schedule', async () => {
    const short = await startTestMxhook(redis.socketPath, ['--dead-letter-retention', '1s']);
    try {
      await short.addRoute('expire.example', app.url);
      const info = await sendMail(short.smtpPort!, { from: 'a@s.test', to: 'x@expire.example', subject: 'expire', text: 'x' });
      const id = `${/queued as (\w+)/.exec(info.response)![1]}.1`;
      await expect.poll(() => short.redis.zscore(short.keys.deadIndex, id), { timeout: 10_000 }).not.toBeNull();
      await expect.poll(async () => [await short.redis.zscore(short.keys.deadIndex, id), await short.redis.exists(short.keys.deadLetterRaw(id))], { timeout: 10_000 }).toEqual([null, 0]);
    } finally {
      await short.close();
    }
  });
});
