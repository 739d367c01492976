/**
 * What start-up refuses on a cluster, with a message saying why and what to do; and, on the same
 * cluster (no replicas, so no WAIT), one circuit breaker per destination whatever the shards.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { startTestMxhook } from '../helpers/mxhook.ts';
import { sendMail } from '../helpers/smtp.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { attemptsKey, readAttempts } from '../../src/store/attempts.ts';
import { createShardSet } from '../../src/store/shards.ts';

let cluster: TestCluster;
beforeAll(async () => {
  // Three primaries, no replicas.
  cluster = await startTestCluster({ replicasPerPrimary: 0 });
}, 60_000);
afterAll(async () => {
  await cluster?.cleanup();
});

it('refuses a cluster whose primaries lack the replica each 250 waits for, naming them and the way out', async () => {
  await expect(startTestMxhook({ cluster: cluster.seeds }, ['--shards', '4'])).rejects.toThrow(/have fewer than the 1 replica\(s\) an accept waits for \(MXHOOK_REDIS_WAIT_REPLICAS\).*MXHOOK_REDIS_WAIT_REPLICAS=0/);
});

it('runs on it with MXHOOK_REDIS_WAIT_REPLICAS=0, the risk taken knowingly', async () => {
  const mx = await startTestMxhook({ cluster: cluster.seeds }, ['--shards', '4', '--redis-wait-replicas', '0']);
  const app = await startReceiver();
  try {
    await mx.addRoute('parse.example.com', app.url);
    const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'b@parse.example.com', subject: 'no replicas', text: 'x' });
    expect(info.response).toMatch(/^250 /);
    expect((await app.waitFor(1))[0]!.fields.subject).toBe('no replicas');
  } finally {
    await mx.close();
    await app.close();
  }
});

it('one breaker per destination across shards: once open, no shard\'s worker tries the destination', async () => {
  const prefix = `b${Date.now().toString(36)}`;
  const mx = await startTestMxhook({ cluster: cluster.seeds }, ['--redis-prefix', prefix, '--shards', '4', '--redis-wait-replicas', '0',
    '--breaker-threshold', '3', '--breaker-cooldown', '1m', '--worker-concurrency', '4']);
  const healthy = await startReceiver();
  try {
    await mx.addRoute('dead-app.example', 'http://127.0.0.1:1/hook', { retry_policy: { max_age: '1h' } });
    await mx.addRoute('healthy.example', healthy.url);
    const shards = createShardSet(prefix, 4, true);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(/queued as (\w+)/.exec((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@dead-app.example', subject: `dead ${i}`, text: 'x' })).response)![1]!);
    expect(new Set(ids.map((id) => shards.shardOf(id))).size).toBeGreaterThan(1);
    const attempts = async () => (await Promise.all(ids.map((id) => readAttempts(mx.redis, attemptsKey(shards.current[shards.shardOf(id)]!, `${id}.1`))))).flat().length;
    // In the shared slot, for every shard's worker.
    const breaker = `{${prefix}}:breaker:http://127.0.0.1:1`;
    await expect.poll(async () => JSON.parse((await mx.redis.get(breaker)) ?? '{"openUntil":0}').openUntil > Date.now(), { timeout: 10_000 }).toBe(true);
    const frozen = await attempts();
    for (let i = 0; i < 8; i++) await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@healthy.example', subject: `ok ${i}`, text: 'x' });
    await healthy.waitFor(8);
    // Four workers (one per shard) at most were mid-attempt when it opened; none tried since.
    expect(await attempts()).toBe(frozen);
    expect(frozen).toBeLessThan(3 + 4);
  } finally {
    await mx.close();
    await healthy.close();
  }
});
