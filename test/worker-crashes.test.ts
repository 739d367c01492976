/**
 * Workers killed while delivering (SIGKILL mid-POST, as a poison message or the OOM killer does):
 * the next run says X-Mxhook-Attempt: 2, and after --max-worker-crashes deaths the delivery is
 * dead-lettered with the reason instead of crashing workers in a loop.
 */
import { describe, expect, it } from 'vitest';
import { getDeadLetter } from '../src/store/dead-letters.ts';
import { redisPerFile } from './helpers/suite.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { spawnMxhook, type MxhookProcess } from './helpers/process.ts';

const suite = redisPerFile();
const later = suite.later;

function workerProcess(mx: TestMxhook): MxhookProcess {
  const p = spawnMxhook(['worker', '--redis-url', suite.redis.socketPath, '--redis-prefix', mx.keys.prefix, '--data-dir', mx.config.dataDir,
    '--worker-lock-duration', '1s', '--max-worker-crashes', '2']);
  suite.afterwards(async () => p.proc.kill('SIGKILL'));
  return p;
}

describe('workers killed while delivering', () => {
  it('the re-run says attempt 2; after 2 deaths the delivery is dead-lettered with the crash reason, not POSTed again', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath, [], ['smtp']));
    let current: MxhookProcess | undefined;
    const app = later(await startReceiver(async () => {
      const dying = current!;
      dying.proc.kill('SIGKILL'); // the worker dies while this POST is in flight
      await dying.exited;
      return { status: 500 };
    }));
    await mx.addRoute('poison.example', app.url);
    const id = /queued as (\w+)/.exec((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@poison.example', subject: 'poison', text: 'x' })).response)![1];
    current = workerProcess(mx);
    await app.waitFor(1, 30_000);
    current = workerProcess(mx);
    await app.waitFor(2, 30_000);
    const last = workerProcess(mx);
    await expect.poll(async () => (await getDeadLetter(mx.redis, mx.keys, `${id}.1`))?.reason, { timeout: 30_000 })
      .toMatch(/^worker died 2 times while delivering/);
    expect(app.posts.map((p) => p.headers['x-mxhook-attempt'])).toEqual(['1', '2']);
    expect(app.posts.map((p) => p.headers['x-mxhook-delivery-id'])).toEqual([`${id}.1`, `${id}.1`]);
    await expect.poll(() => mx.redis.exists(mx.keys.messagePending(id), `${mx.keys.prefix}:deliveries:${id}.1`), { timeout: 10_000 }).toBe(0);
    expect((await mx.redis.get(mx.keys.deadLetterRaw(`${id}.1`)))).toContain('Subject: poison');
    last.proc.kill('SIGTERM');
    expect(await last.exited).toBe(0);
    expect(app.posts).toHaveLength(2);
  }, 90_000);
});
