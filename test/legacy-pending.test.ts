/** Upgrading with mail queued by 0.1.0 (a pending counter, no pending set): nothing is dropped. */
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { DELIVERY_QUEUE_NAME } from '../src/queue/delivery-queue.ts';
import { redisPerFile } from './helpers/suite.ts';
import { startTestMxhook } from './helpers/mxhook.ts';
import { startReceiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';

const suite = redisPerFile();
const later = suite.later;

describe('legacy pending counter', () => {
  it('a message queued in the old layout is delivered to the routes whose jobs remain, then released', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath, [], ['smtp']));
    const one = later(await startReceiver());
    const two = later(await startReceiver());
    await mx.addRoute('legacy-one.example', one.url);
    await mx.addRoute('legacy-two.example', two.url);
    const sent = await sendMail(mx.smtpPort!, { from: 'a@s.test', to: ['x@legacy-one.example', 'y@legacy-two.example'], subject: 'old layout', text: 'x' });
    const id = /queued as (\w+)/.exec(sent.response)![1];
    // Rewrite it as 0.1.0 stored it, with route 2 already delivered (its job completed and removed).
    const queue = new Queue(DELIVERY_QUEUE_NAME, { connection: mx.redis.duplicate({ maxRetriesPerRequest: null }), prefix: mx.keys.prefix });
    await queue.remove(`${id}.2`);
    await queue.close();
    await mx.redis.del(mx.keys.messagePending(id));
    await mx.redis.hset(mx.keys.messageMeta(id), 'pending', 1);
    await mx.redis.persist(mx.keys.messageRaw(id));
    await mx.redis.persist(mx.keys.messageMeta(id));

    later(await startTestMxhook(suite.redis.socketPath, ['--redis-prefix', mx.keys.prefix], ['worker']));
    const [post] = await one.waitFor(1);
    expect(post.fields.subject).toBe('old layout');
    await expect.poll(() => mx.redis.exists(mx.keys.messageRaw(id), mx.keys.messageMeta(id), mx.keys.messagePending(id)), { timeout: 10_000 }).toBe(0);
    expect(two.posts).toHaveLength(0);
  });
});
