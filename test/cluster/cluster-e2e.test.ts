/**
 * The end-to-end suite's core cases on a real Redis Cluster (three primaries, three replicas)
 * with 16 shards: SendGrid-format POSTs, attachments, two routes from one message, retries, dead
 * letters and their replay, the message log, stats and metrics, and the keys spread over every
 * primary (counted on each).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from '../helpers/mxhook.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { sendMail } from '../helpers/smtp.ts';
import { keySlot } from '../../src/store/shards.ts';
import { loadConfig } from '../../src/config/load.ts';
import { runMessagesCommand } from '../../src/app/commands/messages.ts';
import { runDeadCommand } from '../../src/app/commands/dead.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const auth = { authorization: `Bearer ${TEST_API_KEY}` };

let cluster: TestCluster;
let mx: TestMxhook;
let app: Receiver;
let other: Receiver;
let flaky: Receiver;
let refusing: Receiver;
const prefix = `c${Date.now().toString(36)}`;
const FLAGS = ['--shards', '16', '--redis-prefix', prefix, '--raw-retention', '1h', '--breaker-threshold', '1000'] as const;
let worker: TestMxhook | undefined;

beforeAll(async () => {
  cluster = await startTestCluster();
  // SMTP and the API in one process, the worker in another (started by the first delivery test).
  mx = await startTestMxhook({ cluster: cluster.seeds }, [...FLAGS], ['smtp', 'api']);
  app = await startReceiver();
  other = await startReceiver();
  flaky = await startReceiver((_post, index) => ({ status: index < 2 ? 503 : 200 }));
  refusing = await startReceiver(() => ({ status: 400 }));
  await mx.addRoute('parse.example.com', app.url);
  await mx.addRoute('other.example.org', other.url);
  await mx.addRoute('flaky.example.com', flaky.url);
  await mx.addRoute('refused.example.com', refusing.url, { retry_policy: { max_age: '1s' } });
}, 60_000);
afterAll(async () => {
  await worker?.close();
  await mx?.close();
  for (const r of [app, other, flaky, refusing]) await r?.close();
  await cluster?.cleanup();
});

/** An SSE response's text as it arrives, until it ends (aborted). */
function collect(res: Response): { text: () => string; done: Promise<void> } {
  const reader = res.body!.getReader();
  let text = '';
  const done = (async () => {
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) return;
      text += Buffer.from(value).toString();
    }
  })().catch(() => {});
  return { text: () => text, done };
}
const lines = (text: string, field: 'id' | 'data') => [...text.matchAll(new RegExp(`^${field}: (.+)$`, 'gm'))].map((m) => m[1]!);

const api = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${mx.apiPort}${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });

describe('on a Redis Cluster with 16 shards', () => {
  it('records its 16 shards, spread over all three primaries by their hash tags', async () => {
    const recorded = await mx.redis.smembers(`{${prefix}}:shards`);
    expect(recorded).toHaveLength(16);
    const slotsOf = await cluster.primaries();
    const primaryOf = (slot: number) => slotsOf.find((p) => p.slots.some(([a, b]) => slot >= a && slot <= b))?.port;
    const owners = new Set<number>();
    for (const shard of recorded) {
      const slot = Number(await mx.redis.cluster('KEYSLOT', `${shard}:x`));
      // The slot mxhook computes for its tags (shardTag) is the one Redis uses.
      expect(keySlot(`${shard}:x`)).toBe(slot);
      owners.add(primaryOf(slot)!);
    }
    expect(owners.size).toBe(3);
  });

  it('delivers 48 messages as SendGrid POSTs, their keys spread over every primary while they wait', async () => {
    // Eight senders at a time (the per-address connection limit is twenty).
    for (let batch = 0; batch < 48; batch += 8) {
      const infos = await Promise.all(Array.from({ length: 8 }, (_v, j) => batch + j).map((i) =>
        sendMail(mx.smtpPort!, { from: 'Alice <alice@sender.test>', to: 'bob@parse.example.com', subject: `cluster ${i}`, text: `body ${i}` })));
      for (const info of infos) expect(info.response).toMatch(/^250 /);
    }
    // No worker yet: every message waits, stored on the primary of its shard.
    const raw = await cluster.keysPerPrimary(`${prefix}:*:msg:*:raw`);
    expect([...raw.values()].reduce((a, b) => a + b, 0)).toBe(48);
    expect([...raw.values()].filter((n) => n > 0)).toHaveLength(3);
    const jobs = await cluster.keysPerPrimary(`${prefix}:*:deliveries:*`);
    expect([...jobs.values()].filter((n) => n > 0)).toHaveLength(3);
    worker = await startTestMxhook({ cluster: cluster.seeds }, [...FLAGS], ['worker']);
    const posts = await app.waitFor(48, 30_000);
    expect(new Set(posts.map((p) => p.fields.subject)).size).toBe(48);
    const one = app.posts.find((p) => p.fields.subject === 'cluster 7')!;
    expect(one.fields.from).toBe('Alice <alice@sender.test>');
    expect(one.fields.to).toBe('bob@parse.example.com');
    expect(one.fields.text!.trim()).toBe('body 7');
    expect(JSON.parse(one.fields.envelope!)).toEqual({ to: ['bob@parse.example.com'], from: 'alice@sender.test' });
    expect(one.fields.headers).toMatch(/^Received: from /);
  });

  it('one message to two routes: both POSTed, attachment bytes intact', async () => {
    const before = { app: app.posts.length, other: other.posts.length };
    await sendMail(mx.smtpPort!, {
      from: 'carol@sender.test', to: ['dan@parse.example.com', 'erin@other.example.org'], subject: 'two routes', text: 'see attached',
      attachments: [{ filename: 'pixel.png', content: PNG, contentType: 'image/png' }],
    });
    const [toApp] = (await app.waitFor(before.app + 1)).slice(before.app);
    const [toOther] = (await other.waitFor(before.other + 1)).slice(before.other);
    for (const post of [toApp!, toOther!]) {
      expect(post.fields.subject).toBe('two routes');
      expect(post.fields.attachments).toBe('1');
      expect(post.files.attachment1!.data.equals(PNG)).toBe(true);
    }
  });

  it('retries a 503 until the app takes it', async () => {
    await sendMail(mx.smtpPort!, { from: 'f@sender.test', to: 'x@flaky.example.com', subject: 'flaky', text: 'again' });
    const posts = await flaky.waitFor(3);
    expect(posts.map((p) => p.fields.subject)).toEqual(['flaky', 'flaky', 'flaky']);
  });

  it('dead-letters a refused delivery, lists it, and replays it to a route that takes it', async () => {
    const info = await sendMail(mx.smtpPort!, { from: 'g@sender.test', to: 'y@refused.example.com', subject: 'refused', text: 'no' });
    expect(info.response).toMatch(/^250 /);
    await refusing.waitFor(1);
    let letters: { deliveryId: string }[] = [];
    for (let i = 0; i < 100 && !letters.length; i++) {
      const res = await api('/v3/user/webhooks/parse/dead-letters');
      letters = ((await res.json()) as { result: { deliveryId: string }[] }).result;
      // Dead-lettered by the worker just after its POST was answered: asked again shortly.
      if (!letters.length) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(letters).toHaveLength(1);
    refusing.respondWith(() => ({ status: 200 }));
    const before = refusing.posts.length;
    const replay = await api(`/v3/user/webhooks/parse/dead-letters/${letters[0]!.deliveryId}/replay`, { method: 'POST' });
    expect(replay.status).toBe(202);
    const posts = await refusing.waitFor(before + 1);
    expect(posts.at(-1)!.headers['x-mxhook-replay-of']).toBe(letters[0]!.deliveryId);
  });

  it('the message log lists every shard\'s messages in one newest-first order, page by page, and shows one by id', async () => {
    const seen: { id: string; received_at: string }[] = [];
    let cursor: string | null = null;
    do {
      const res = await api(`/v3/user/webhooks/parse/messages?hostname=parse.example.com&limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { result: { id: string; received_at: string }[]; next_cursor: string | null };
      seen.push(...page.result);
      cursor = page.next_cursor;
    } while (cursor);
    expect(new Set(seen.map((m) => m.id)).size).toBe(49);
    expect(seen.length).toBe(49);
    const times = seen.map((m) => Date.parse(m.received_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const shown = await api(`/v3/user/webhooks/parse/messages/${seen[5]!.id}`);
    expect(shown.status).toBe(200);
    expect(((await shown.json()) as { id: string }).id).toBe(seen[5]!.id);
    const raw = await api(`/v3/user/webhooks/parse/messages/${seen[5]!.id}/raw`);
    expect(raw.status).toBe(200);
    expect(await raw.text()).toMatch(/^Received: from /);
    expect((await api('/v3/user/webhooks/parse/messages/zzzznotanid')).status).toBe(404);
  });

  it('stats and route counters add up over the shards; metrics count every shard\'s queue', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const stats = (await (await api(`/v3/user/webhooks/parse/stats?start_date=${day}`)).json()) as { stats: { metrics: { received: number } }[] }[];
    // 48, the two-route message (counted for each of its two hostnames, as SendGrid's stats count
    // per hostname), the flaky one, the refused one; a replay is not received mail.
    expect(stats[0]!.stats[0]!.metrics.received).toBe(52);
    const routeStats = (await (await api('/v3/user/webhooks/parse/settings/parse.example.com/stats')).json()) as { received: number; delivered: number };
    expect(routeStats.received).toBe(49);
    expect(routeStats.delivered).toBe(49);
    const metrics = await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text();
    expect(metrics).toMatch(/mxhook_queue_jobs\{state="waiting"\} 0/);
  });

  it('the event webhook gets received and delivered events of mail on every shard', async () => {
    const events = await startReceiver();
    try {
      const made = await api('/v3/user/webhooks/event/settings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: events.url, enabled: true }) });
      expect(made.status).toBe(201);
      const subjects = Array.from({ length: 8 }, (_v, i) => `evented ${i}`);
      for (const subject of subjects) await sendMail(mx.smtpPort!, { from: 'e@sender.test', to: 'ev@other.example.org', subject, text: subject });
      const all = () => events.posts.flatMap((p) => p.json as { event: string; subject?: string; mxhook_message_id: string }[]);
      await expect.poll(() => all().filter((e) => e.event === 'delivered').length, { timeout: 20_000, interval: 100 }).toBe(8);
      const received = all().filter((e) => e.event === 'received');
      expect(new Set(received.map((e) => e.subject))).toEqual(new Set(subjects));
    } finally {
      await events.close();
    }
  });

  it('the live event stream (SSE) carries the events of every shard, each id holding every stream\'s place, resumable by Last-Event-ID', async () => {
    const controller = new AbortController();
    const res = await api('/v3/user/webhooks/parse/events', { signal: controller.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const first = collect(res);
    for (let i = 0; i < 6; i++) await sendMail(mx.smtpPort!, { from: 's@sender.test', to: 'sse@other.example.org', subject: `sse ${i}`, text: 'x' });
    await expect.poll(() => (first.text().match(/event: message\.accepted/g) ?? []).length, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(6);
    // Every id carries all 16 shards' places (and the shared stream's).
    const ids = lines(first.text(), 'id');
    expect(ids.at(-1)!.split('~').length).toBe(17);
    controller.abort();
    await first.done;
    // Resumed from the third event's id: every event after it comes again, none before it (in
    // each shard's order; shards interleave as they are read).
    const datas = lines(first.text(), 'data');
    const again = new AbortController();
    const resumed = await api('/v3/user/webhooks/parse/events', { signal: again.signal, headers: { 'last-event-id': ids[2]! } });
    const second = collect(resumed);
    try {
      await expect.poll(() => datas.slice(3).every((d) => lines(second.text(), 'data').includes(d)), { timeout: 10_000, interval: 50 }).toBe(true);
      expect(lines(second.text(), 'data').filter((d) => datas.slice(0, 3).includes(d))).toEqual([]);
    } finally {
      again.abort();
      await second.done;
    }
  });

  it('a large message, staged in its shard while it arrives, is delivered whole', async () => {
    const big = Buffer.alloc(900 * 1024, 7);
    const before = other.posts.length;
    const info = await sendMail(mx.smtpPort!, { from: 'l@sender.test', to: 'big@other.example.org', subject: 'large', text: 'big one', attachments: [{ filename: 'big.bin', content: big }] });
    expect(info.response).toMatch(/^250 /);
    const [post] = (await other.waitFor(before + 1, 20_000)).slice(before);
    expect(post!.fields.subject).toBe('large');
    expect(post!.files.attachment1!.data.equals(big)).toBe(true);
  });

  it('the CLI reads the log and dead letters of every shard', async () => {
    const { config } = loadConfig(['--redis-cluster', cluster.seeds, '--redis-prefix', prefix, '--shards', '16'], {});
    let out = '';
    let err = '';
    const output = { out: (t: string) => { out += t; }, err: (t: string) => { err += t; } };
    expect(await runMessagesCommand(config, ['list', 'parse.example.com', '--limit', '500'], output)).toBe(0);
    expect(err).toBe('');
    expect(out).toMatch(/^49 message\(s\)$/m);
    out = '';
    expect(await runDeadCommand(config, ['list'], output)).toBe(0);
    expect(out).toMatch(/^0 dead letter\(s\)$/m);
  });
});
