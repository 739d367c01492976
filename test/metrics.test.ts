/** /metrics: counters move with real mail (SMTP in, POSTs out), on the API port and on --metrics-port. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { SmtpLineClient, sendMail } from './helpers/smtp.ts';

let redis: TestRedis;
let receiver: Receiver;
let mx: TestMxhook;

beforeAll(async () => {
  redis = await startTestRedis();
  // The app refuses one message for good (400), to see a permanent attempt counted.
  receiver = await startReceiver((post) => ({ status: post.fields.subject === 'refuse me' ? 400 : 200 }));
  mx = await startTestMxhook(redis.socketPath);
  await mx.addRoute('parse.example.com', receiver.url);
});
afterAll(async () => {
  await mx?.close();
  await receiver?.close();
  await redis?.cleanup();
});

async function scrape(port: number): Promise<{ status: number; contentType: string | null; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}

/** The value of one sample, e.g. value(text, 'mxhook_delivery_attempts_total', { outcome: 'delivered' }); 0 when absent. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return 0;
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await read();
    if (ok(current) || Date.now() > deadline) return current;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('/metrics', () => {
  it('is served without the API key, in Prometheus text format, with process metrics', async () => {
    const { status, contentType, text } = await scrape(mx.apiPort!);
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('# TYPE mxhook_smtp_accepted_messages_total counter');
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toMatch(/^mxhook_queue_jobs\{state="waiting"\} \d+$/m);
  });

  it('counts accepted and refused mail, attempts by outcome, latency and bytes', async () => {
    const before = (await scrape(mx.apiPort!)).text;
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'one@parse.example.com', subject: 'hello', text: 'first' });
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'two@parse.example.com', subject: 'hello', text: 'second' });
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'three@parse.example.com', subject: 'refuse me', text: 'third' });
    const { client } = await SmtpLineClient.connect(mx.smtpPort!);
    await client.command('EHLO client.test');
    await client.command('MAIL FROM:<a@sender.test>');
    expect(await client.command('RCPT TO:<x@not-registered.test>')).toMatch(/^550 /);
    client.close();

    const moved = (text: string, name: string, labels: Record<string, string> = {}) => value(text, name, labels) - value(before, name, labels);
    const after = await until(() => scrape(mx.apiPort!).then((r) => r.text), (text) =>
      moved(text, 'mxhook_delivery_attempts_total', { outcome: 'delivered' }) >= 2 && moved(text, 'mxhook_delivery_attempts_total', { outcome: 'permanent' }) >= 1);
    expect(moved(after, 'mxhook_smtp_accepted_messages_total')).toBe(3);
    expect(moved(after, 'mxhook_smtp_received_bytes_total')).toBeGreaterThan(3 * 200);
    expect(moved(after, 'mxhook_smtp_rejections_total', { reply: '550', reason: 'RELAY_DENIED' })).toBe(1);
    expect(moved(after, 'mxhook_delivery_attempts_total', { outcome: 'delivered' })).toBe(2);
    expect(moved(after, 'mxhook_delivery_attempts_total', { outcome: 'permanent' })).toBe(1);
    expect(moved(after, 'mxhook_delivery_attempt_duration_seconds_count')).toBe(3);
    expect(moved(after, 'mxhook_delivery_latency_seconds_count')).toBe(2);
    expect(moved(after, 'mxhook_delivery_latency_seconds_bucket', { le: '+Inf' })).toBe(2);
    expect(moved(after, 'mxhook_delivery_sent_bytes_total')).toBeGreaterThan(3 * 300);
    // No hostnames, addresses or ids in any label.
    expect(after).not.toMatch(/parse\.example\.com|sender\.test|not-registered/);
  });

  it('shows queue depth by state', async () => {
    const text = (await scrape(mx.apiPort!)).text;
    for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(text).toMatch(new RegExp(`^mxhook_queue_jobs\\{state="${state}"\\} \\d+$`, 'm'));
  });

  it('a process without the API serves its own registry on --metrics-port', async () => {
    const worker = await startTestMxhook(redis.socketPath, ['--metrics-port', '0', '--redis-prefix', mx.keys.prefix], ['worker']);
    try {
      expect(worker.apiPort).toBeUndefined();
      const { status, text } = await scrape(worker.metricsPort!);
      expect(status).toBe(200);
      expect(text).toContain('# TYPE mxhook_delivery_attempts_total counter');
      expect(text).toMatch(/^mxhook_queue_jobs\{state="waiting"\} \d+$/m);
      expect((await fetch(`http://127.0.0.1:${worker.metricsPort}/v3/user/webhooks/parse/settings`)).status).toBe(404);
    } finally {
      await worker.close();
    }
  });
});
