/**
 * The message log on the real pipeline: SMTP in, a real worker POSTs to a real receiver, and the
 * messages API (over the API port, with the key) tells what happened.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver } from './helpers/receiver.ts';
import { startTestRedis } from './helpers/redis.ts';
import { sendMail } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
const BASE = '/v3/user/webhooks/parse';
const queuedId = (response: string) => /queued as (\w+)/.exec(response)![1];

async function api(mx: TestMxhook, path: string, init: RequestInit = {}): Promise<{ status: number; body: any; text: string; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}${BASE}${path}`, { ...init, headers: { authorization: `Bearer ${TEST_API_KEY}`, ...(init.headers ?? {}) } });
  const text = await res.text();
  let body: unknown;
  try { body = JSON.parse(text); } catch { body = undefined; }
  return { status: res.status, body, text, type: res.headers.get('content-type') };
}

describe('message log end to end', () => {
  it('a message sent over SMTP shows up delivered with its attempt (status 200); bad filters and unknown ids are 400/404', async () => {
    const mx = suite.later(await startTestMxhook(suite.redis.socketPath));
    const app = suite.later(await startReceiver(() => ({ status: 200, body: 'thanks' })));
    await mx.addRoute('log.example', app.url);
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'jane@sender.test', to: 'help@log.example', subject: 'Order 42', text: 'Where is it?', attachments: [{ filename: 'receipt.txt', content: 'paid' }] })).response);
    await app.waitFor(1);
    await expect.poll(async () => (await api(mx, `/messages/${id}`)).body?.deliveries?.[0]?.state, { timeout: 10_000 }).toBe('delivered');
    const { body } = await api(mx, `/messages/${id}`);
    expect(body.deliveries[0].attempts).toHaveLength(1);
    expect(body.deliveries[0].attempts[0]).toMatchObject({ status: 200, outcome: 'delivered', response: 'thanks' });
    expect(body.deliveries[0].attempts[0].bytes_sent).toBeGreaterThan(0);
    await expect.poll(async () => (await api(mx, `/messages/${id}`)).body.attachments, { timeout: 5_000 }).toBe(1);
    const listed = await api(mx, `/messages?hostname=log.example&subject=order`);
    expect(listed.body.result.map((m: { id: string }) => m.id)).toContain(id);
    expect((await api(mx, '/messages?state=exploded')).status).toBe(400);
    expect((await api(mx, '/messages?limit=-1')).status).toBe(400);
    expect((await api(mx, '/messages/nosuchmessage0000')).status).toBe(404);
  });

  it('a failing app shows retrying with the next attempt time, then dead-lettered', async () => {
    const mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--retry-fast-interval', '400ms-500ms', '--retry-slow-interval', '400ms-500ms']));
    const app = suite.later(await startReceiver(() => ({ status: 503 })));
    await mx.addRoute('failing.example', app.url, { retry_policy: { max_age: '3s' } });
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'x@failing.example', subject: 'retry me', text: 'x' })).response);
    await expect.poll(async () => (await api(mx, `/messages/${id}`)).body?.deliveries?.[0]?.state, { timeout: 10_000 }).toBe('retrying');
    const retrying = (await api(mx, `/messages/${id}`)).body.deliveries[0];
    expect(Date.parse(retrying.next_attempt_at)).toBeGreaterThan(Date.parse(retrying.attempts.at(-1).at));
    expect(retrying.attempts.at(-1)).toMatchObject({ status: 503, outcome: 'retry' });
    await expect.poll(async () => (await api(mx, `/messages/${id}`)).body?.deliveries?.[0]?.state, { timeout: 15_000 }).toBe('dead-lettered');
    // Replaying the dead letter marks the logged delivery replayed, pointing at the new one.
    const replay = await api(mx, `/dead-letters/${id}.1/replay`, { method: 'POST' });
    expect(replay.status).toBe(202);
    const [{ delivery_id: newDelivery }] = replay.body.replayed;
    const after = (await api(mx, `/messages/${id}`)).body.deliveries[0];
    expect({ state: after.state, replayed_as: after.replayed_as }).toEqual({ state: 'replayed', replayed_as: newDelivery });
  });

  it('with raw retention on, a delivered message can be downloaded byte for byte and redelivered', async () => {
    const mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--raw-retention', '1h']));
    const app = suite.later(await startReceiver());
    await mx.addRoute('again.example', app.url);
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'x@again.example', subject: 'keep me', text: 'x' })).response);
    await app.waitFor(1);
    await expect.poll(async () => (await api(mx, `/messages/${id}`)).body?.deliveries?.[0]?.state, { timeout: 10_000 }).toBe('delivered');
    const raw = await api(mx, `/messages/${id}/raw`);
    expect(raw.status).toBe(200);
    expect(raw.type).toContain('message/rfc822');
    expect(raw.text).toContain('Subject: keep me');
    expect(raw.text.startsWith('Received: ')).toBe(true);
    const redelivered = await api(mx, `/messages/${id}/redeliver`, { method: 'POST' });
    expect(redelivered.status).toBe(202);
    const [, second] = await app.waitFor(2);
    expect(second.fields.subject).toBe('keep me');
    expect(second.headers['x-mxhook-replay-of']).toBe(`${id}.1`);
  });

  it('kept raw messages give way when Redis passes MXHOOK_RAW_RETENTION_MEMORY: the oldest are deleted, no mail is refused', async () => {
    // Its own Redis: this test sets maxmemory.
    const server = await startTestRedis();
    suite.afterwards(() => server.cleanup());
    const mx = suite.later(await startTestMxhook(server.socketPath, ['--raw-retention', '1h', '--raw-retention-memory', '0.5', '--redis-memory-high', '0.95']));
    const app = suite.later(await startReceiver());
    await mx.addRoute('kept.example', app.url);
    const used = async () => Number(/^used_memory:(\d+)/m.exec(await mx.redis.info('memory'))![1]);
    // Room for about 3 MB of kept raw messages below the 0.5 share; 8 MB are sent.
    const maxmemory = 2 * (await used()) + 6 * 1024 * 1024;
    await mx.redis.config('SET', 'maxmemory', String(maxmemory));
    const body = randomBytes(150 * 1024).toString('base64').replace(/.{76}/g, '$&\r\n');
    const replies: string[] = [];
    for (let n = 0; n < 40; n++) {
      replies.push((await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'x@kept.example', subject: `kept ${n}`, text: body })).response);
    }
    expect(replies.filter((r) => !r.startsWith('250'))).toEqual([]);
    await app.waitFor(40, 30_000);
    const evicted = async () => Number(/mxhook_message_log_dropped\{reason="raw_memory"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text())?.[1] ?? 0);
    await expect.poll(evicted, { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(used, { timeout: 10_000 }).toBeLessThan(maxmemory * 0.5);
    // The first message was kept, then gave way.
    expect((await api(mx, `/messages/${queuedId(replies[0])}/raw`)).status).toBe(404);
  });

  it('past MXHOOK_MESSAGE_LOG_MAX the oldest records are dropped (checked every 8th accept), and /metrics counts it', async () => {
    const mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--message-log-max', '2']));
    const app = suite.later(await startReceiver());
    await mx.addRoute('capped.example', app.url);
    const ids: string[] = [];
    for (let n = 1; n <= 9; n++) ids.push(queuedId((await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'x@capped.example', subject: `capped ${n}`, text: 'x' })).response));
    await app.waitFor(9);
    // The 9th accept checked the cap: the log is back at 2 records, the newest.
    await expect.poll(async () => (await api(mx, `/messages/${ids[0]}`)).status, { timeout: 10_000 }).toBe(404);
    expect((await api(mx, `/messages/${ids[6]}`)).status).toBe(404);
    expect((await api(mx, `/messages/${ids[8]}`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text();
    expect(metrics).toMatch(/mxhook_message_log_dropped\{reason="cap"\} [1-9]/);
  });
});
