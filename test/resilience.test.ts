/**
 * Crash safety and protection (docs/delivery.md): a worker killed mid-POST, Redis restarted between accept
 * and delivery, a SIGTERM drain, the per-destination circuit breaker and destination safety.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { redisPerFile } from './helpers/suite.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { SmtpLineClient, sendMail } from './helpers/smtp.ts';
import { spawnMxhook, type MxhookProcess } from './helpers/process.ts';
import { getDeadLetter } from '../src/store/dead-letters.ts';
import { readAttempts, attemptsKey } from '../src/store/attempts.ts';
import { readRouteStats } from '../src/store/route-stats.ts';

const suite = redisPerFile();
const later = suite.later;

const queuedId = (response: string) => /queued as (\w+)/.exec(response)![1];

function workerProcess(mx: TestMxhook, extra: string[] = []): MxhookProcess {
  const p = spawnMxhook(['worker', '--redis-url', suite.redis.socketPath, '--redis-prefix', mx.keys.prefix, '--data-dir', mx.config.dataDir,
    '--worker-lock-duration', '1s', '--retry-fast-interval', '100ms', ...extra]);
  suite.afterwards(async () => p.proc.kill('SIGKILL'));
  return p;
}

describe('crash safety', () => {
  it('a worker killed mid-POST leaves the job to another worker, which delivers it (same delivery id)', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath, [], ['smtp']));
    let first: MxhookProcess | undefined;
    const app = later(await startReceiver(async (_post, index) => {
      if (index === 0) {
        first!.proc.kill('SIGKILL'); // the worker dies while this POST is in flight
        await first!.exited;
        return { status: 500 };
      }
      return { status: 200 };
    }));
    await mx.addRoute('crash.example', app.url);
    first = workerProcess(mx);
    await first.waitForLog((e) => e.event === 'worker_started');
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@crash.example', subject: 'crash', text: 'x' })).response);
    await app.waitFor(1);
    const second = workerProcess(mx);
    const posts = await app.waitFor(2, 30_000);
    expect(posts[0].headers['x-mxhook-delivery-id']).toBe(`${id}.1`);
    expect(posts[1].headers['x-mxhook-delivery-id']).toBe(`${id}.1`);
    expect(posts[1].fields.subject).toBe('crash');
    await expect.poll(() => mx.redis.exists(mx.keys.messageRaw(id)), { timeout: 10_000 }).toBe(0);
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 60_000);

  it('a Redis restart (append-only file) between accept and delivery loses nothing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-aof-'));
    const { startManagedRedis } = await import('../src/store/managed-redis.ts');
    const durable = await startManagedRedis({ dir, appendfsync: 'always', supervise: false });
    suite.afterwards(() => durable.stop());
    const mx = later(await startTestMxhook(durable.socketPath, [], ['smtp']));
    const app = later(await startReceiver());
    await mx.addRoute('aof.example', app.url);
    const accepted = [];
    for (let i = 0; i < 5; i++) accepted.push(queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@aof.example', subject: `aof ${i}`, text: 'x' })).response));
    await durable.kill(); // SIGKILL: no clean shutdown, only the append-only file remains
    await durable.restart();
    const worker = later(await startTestMxhook(durable.socketPath, ['--redis-prefix', mx.keys.prefix], ['worker']));
    void worker;
    const posts = await app.waitFor(5);
    expect(posts.map((p) => p.fields.subject).sort()).toEqual(['aof 0', 'aof 1', 'aof 2', 'aof 3', 'aof 4']);
    for (const id of accepted) await expect.poll(() => mx.redis.exists(mx.keys.messageRaw(id)), { timeout: 10_000 }).toBe(0);
  }, 60_000);

  it('SIGTERM drains: new connections get 421, the session in progress finishes, the POST in flight completes, exit 0', async () => {
    const probe = later(await startTestMxhook(suite.redis.socketPath, [], []));
    let releaseSlow: () => void = () => {};
    const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
    const app = later(await startReceiver(async (post) => {
      if (post.fields.subject === 'in flight') await slowGate;
      return { status: 200 };
    }));
    await probe.addRoute('drain.example', app.url);
    const server = spawnMxhook(['start', '--redis-url', suite.redis.socketPath, '--redis-prefix', probe.keys.prefix, '--data-dir', probe.config.dataDir,
      '--smtp-host', '127.0.0.1', '--smtp-port', '0', '--api-host', '127.0.0.1', '--api-port', '0', '--api-key', 'k', '--shutdown-timeout', '15s']);
    suite.afterwards(async () => server.proc.kill('SIGKILL'));
    const port = Number((await server.waitForLog((e) => e.event === 'smtp_listening')).port);
    await server.waitForLog((e) => e.event === 'worker_started');

    const inFlight = queuedId((await sendMail(port, { from: 'a@s.test', to: 'x@drain.example', subject: 'in flight', text: 'x' })).response);
    await app.waitFor(1); // its POST is now held open by the app
    // While it is held, its message and job exist (so their absence after exit means something).
    expect(await probe.redis.exists(probe.keys.messageRaw(inFlight), probe.keys.messageMeta(inFlight))).toBe(2);
    expect(await probe.redis.exists(`${probe.keys.prefix}:deliveries:${inFlight}.1`)).toBe(1);
    const { client: session } = await SmtpLineClient.connect(port);
    await session.command('EHLO c.test');
    await session.command('MAIL FROM:<a@s.test>');
    expect(await session.command('RCPT TO:<y@drain.example>')).toMatch(/^250 /);

    server.proc.kill('SIGTERM');
    await server.waitForLog((e) => e.event === 'smtp_draining');
    const { greeting } = await SmtpLineClient.connect(port);
    expect(greeting).toMatch(/^421 4\.3\.2 /);

    expect(await session.command('DATA')).toMatch(/^354 /);
    session.write('Subject: during drain\r\n\r\nbody\r\n.\r\n');
    const accepted = await session.nextReply();
    expect(accepted).toMatch(/^250 /);
    expect(await session.command('QUIT')).toMatch(/^221 /);
    releaseSlow();
    expect(await server.exited).toBe(0);
    // The POST in flight was answered and its delivery finished before exit (not aborted and left
    // to retry): nothing retrying, and its message and job are gone. The message accepted during the
    // drain is stored (the worker, still running during the drain, may already have delivered it).
    const stats = await readRouteStats(probe.redis, probe.keys, 'drain.example');
    expect(stats).toMatchObject({ received: 2, retrying: 0, dead: 0 });
    expect(stats.delivered).toBeGreaterThanOrEqual(1);
    expect(await probe.redis.exists(probe.keys.messageRaw(inFlight), probe.keys.messageMeta(inFlight))).toBe(0);
    expect(await probe.redis.exists(`${probe.keys.prefix}:deliveries:${inFlight}.1`)).toBe(0);
    expect(app.posts.filter((p) => p.fields.subject === 'in flight')).toHaveLength(1);
    const worker = later(await startTestMxhook(suite.redis.socketPath, ['--redis-prefix', probe.keys.prefix], ['worker']));
    void worker;
    await expect.poll(() => app.posts.some((p) => p.fields.subject === 'during drain'), { timeout: 15_000 }).toBe(true);
    // ...and the delivery finished before exit is not posted a second time.
    await expect.poll(async () => (await readRouteStats(probe.redis, probe.keys, 'drain.example')).delivered, { timeout: 10_000 }).toBe(2);
    expect(app.posts.filter((p) => p.fields.subject === 'in flight')).toHaveLength(1);
  }, 60_000);
});

describe('circuit breaker', () => {
  it('a dead destination stops getting POSTs while other routes flow', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath, ['--breaker-threshold', '3', '--breaker-cooldown', '1m', '--worker-concurrency', '2']));
    const healthy = later(await startReceiver());
    await mx.addRoute('dead-app.example', 'http://127.0.0.1:1/hook', { retry_policy: { max_age: '1h' } });
    await mx.addRoute('healthy.example', healthy.url);
    const deadIds = [];
    for (let i = 0; i < 4; i++) deadIds.push(queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@dead-app.example', subject: `dead ${i}`, text: 'x' })).response));
    const attemptsOnDead = async () => (await Promise.all(deadIds.map((id) => readAttempts(mx.redis, attemptsKey(mx.keys, `${id}.1`))))).flat().length;
    await expect.poll(() => mx.redis.exists(`${mx.keys.prefix}:breaker:http://127.0.0.1:1`), { timeout: 10_000 }).toBe(1);
    await expect.poll(async () => JSON.parse((await mx.redis.get(`${mx.keys.prefix}:breaker:http://127.0.0.1:1`))!).openUntil > Date.now(), { timeout: 10_000 }).toBe(true);
    const frozen = await attemptsOnDead();
    for (let i = 0; i < 5; i++) await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@healthy.example', subject: `ok ${i}`, text: 'x' });
    await healthy.waitFor(5);
    // While open, the dead destination got no further attempts, and its deliveries wait (not dead).
    expect(await attemptsOnDead()).toBe(frozen);
    expect(frozen).toBeLessThan(3 + 2 * 2);
    for (const id of deadIds) expect(await getDeadLetter(mx.redis, mx.keys, `${id}.1`)).toBeUndefined();
  });
});

describe('destination safety', () => {
  it('with private destinations refused, loopback URLs (literal or by name) are dead-lettered, never contacted', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath, ['--allow-private-destinations', 'false']));
    const app = later(await startReceiver());
    const port = new URL(app.url).port;
    await mx.addRoute('literal.example', app.url);
    await mx.addRoute('byname.example', `http://localhost:${port}/inbound`);
    for (const host of ['literal.example', 'byname.example']) {
      const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: `x@${host}`, subject: 's', text: 'x' })).response);
      await expect.poll(async () => (await getDeadLetter(mx.redis, mx.keys, `${id}.1`))?.reason, { timeout: 10_000 }).toMatch(/destination refused: .* loopback address/);
    }
    expect(app.posts).toHaveLength(0);
  });
});
