/**
 * Changing MXHOOK_SHARDS on a running system: mail stored under the old count drains (workers
 * consume every shard ever recorded), the log and stats read across old and new, nothing lost.
 * On a single Redis, where shards need no cluster; test/cluster/ runs them on one.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { redisPerFile } from './helpers/suite.ts';
import { startTestMxhook, TEST_API_KEY } from './helpers/mxhook.ts';
import { startReceiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';

const suite = redisPerFile();
const prefix = `s${randomBytes(4).toString('hex')}`;

const send = (port: number, subject: string) => sendMail(port, { from: 'a@sender.test', to: 'b@parse.example.com', subject, text: subject });

it('mail accepted with 1 shard and with 4 is all delivered by workers started with 4; the log lists it all', async () => {
  const app = suite.later(await startReceiver());
  // Intake with one shard, no worker: five messages wait in the plain prefix.
  const one = await startTestMxhook(suite.redis.socketPath, ['--redis-prefix', prefix, '--shards', '1'], ['smtp', 'api']);
  await one.addRoute('parse.example.com', app.url);
  for (let i = 0; i < 5; i++) expect((await send(one.smtpPort!, `one ${i}`)).response).toMatch(/^250 /);
  await one.close();
  // The same system restarted with four shards: five more, spread over them.
  const four = suite.later(await startTestMxhook(suite.redis.socketPath, ['--redis-prefix', prefix, '--shards', '4'], ['smtp', 'api']));
  for (let i = 0; i < 5; i++) expect((await send(four.smtpPort!, `four ${i}`)).response).toMatch(/^250 /);
  expect(await four.redis.smembers(`${prefix}:shards`)).toHaveLength(5);
  const waiting = await four.redis.keys(`${prefix}:*:msg:*:raw`);
  expect(waiting.length).toBe(5);
  expect((await four.redis.keys(`${prefix}:msg:*:raw`)).length).toBe(5);
  // Workers with the new count drain the old shard too.
  suite.later(await startTestMxhook(suite.redis.socketPath, ['--redis-prefix', prefix, '--shards', '4'], ['worker']));
  const posts = await app.waitFor(10);
  expect(posts.map((p) => p.fields.subject).sort()).toEqual([...Array.from({ length: 5 }, (_v, i) => `four ${i}`), ...Array.from({ length: 5 }, (_v, i) => `one ${i}`)].sort());
  const res = await fetch(`http://127.0.0.1:${four.apiPort}/v3/user/webhooks/parse/messages?limit=3`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });
  let page = (await res.json()) as { result: { id: string }[]; next_cursor: string | null };
  const listed = [...page.result];
  while (page.next_cursor) {
    page = (await (await fetch(`http://127.0.0.1:${four.apiPort}/v3/user/webhooks/parse/messages?limit=3&cursor=${page.next_cursor}`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })).json()) as typeof page;
    listed.push(...page.result);
  }
  expect(new Set(listed.map((m) => m.id)).size).toBe(10);
  const day = new Date().toISOString().slice(0, 10);
  const stats = (await (await fetch(`http://127.0.0.1:${four.apiPort}/v3/user/webhooks/parse/stats?start_date=${day}`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })).json()) as { stats: { metrics: { received: number } }[] }[];
  expect(stats[0]!.stats[0]!.metrics.received).toBe(10);
});

it('refuses a shard count above 1 with a {hash tag} prefix, at start', async () => {
  await expect(startTestMxhook(suite.redis.socketPath, ['--redis-prefix', '{tagged}', '--shards', '4'])).rejects.toThrow(/MXHOOK_SHARDS .*above 1 needs MXHOOK_REDIS_PREFIX without a \{hash tag\}/);
});
