/**
 * The overview on the real pipeline: mail over SMTP, a real worker POSTs to real receivers (one
 * failing), a recipient refused; GET .../overview over the API port tells the figures.
 */
import { describe, expect, it } from 'vitest';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
const BASE = '/v3/user/webhooks/parse';

async function overview(mx: TestMxhook, query = ''): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}${BASE}/overview${query}`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });
  return { status: res.status, body: await res.json() };
}
const sum = (rows: { [k: string]: number }[], field: string) => rows.reduce((n, r) => n + r[field], 0);

describe('overview end to end', () => {
  it('counts mail in and delivered, the latency, a failing route and a refused recipient', async () => {
    const mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--retry-fast-interval', '300ms-400ms', '--retry-slow-interval', '300ms-400ms']));
    const ok = suite.later(await startReceiver(() => ({ status: 200 })));
    const failing = suite.later(await startReceiver(() => ({ status: 503 })));
    await mx.addRoute('ok.example', ok.url);
    await mx.addRoute('failing.example', failing.url, { retry_policy: { max_age: '1h' } });
    for (const n of [1, 2, 3]) await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'x@ok.example', subject: `ok ${n}`, text: 'x' });
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'x@failing.example', subject: 'fails', text: 'x' });
    const refused = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'x@unknown.example', subject: 'nobody', text: 'x' }).then(() => undefined, (err: { responseCode?: number }) => err);
    expect(refused?.responseCode).toBe(550);
    await ok.waitFor(3);
    await failing.waitFor(2);

    await expect.poll(async () => {
      const { body } = await overview(mx);
      // Figures reach Redis about once a second after the fact (store/minute-figures.ts).
      return { received: sum(body.minutes, 'received'), delivered: sum(body.minutes, 'delivered'), failedTwice: sum(body.minutes, 'failed') >= 2, refusals: body.refusals };
    }, { timeout: 10_000 }).toEqual({ received: 4, delivered: 3, failedTwice: true, refusals: [{ reason: 'RELAY_DENIED', hostname: 'unknown.example', count: 1 }] });
    const { status, body } = await overview(mx, '?minutes=5');
    expect(status).toBe(200);
    expect(body.window_minutes).toBe(5);
    expect(body.minutes).toHaveLength(5);
    expect(sum(body.minutes, 'failed')).toBeGreaterThanOrEqual(2);
    expect(body.latency_ms.p50).toBeGreaterThan(0);
    expect(body.latency_ms.p99).toBeGreaterThanOrEqual(body.latency_ms.p50);
    // a local delivery takes well under a minute
    expect(body.latency_ms.p99).toBeLessThan(60_000);
    expect(body.routes[0]).toMatchObject({ hostname: 'failing.example', delivered: 0, error_rate: 1 });
    expect(body.routes[0].failed).toBeGreaterThanOrEqual(2);
    expect(body.routes[1]).toEqual({ hostname: 'ok.example', delivered: 3, failed: 0, error_rate: 0 });
    expect(Object.keys(body.queue).sort()).toEqual(['active', 'delayed', 'failed', 'waiting']);
    // the failing delivery waits for its next attempt
    expect(body.queue.delayed + body.queue.active + body.queue.waiting).toBeGreaterThanOrEqual(1);

    const bad = await overview(mx, '?minutes=500');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('minutes');
  });
});
