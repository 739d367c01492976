/**
 * A cluster primary killed while mail flows, its replica promoted: SMTP answers 4xx (451) for what
 * it could not store, never 250, and every message that got its 250 is delivered.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { startTestMxhook, type TestMxhook } from '../helpers/mxhook.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { sendMail } from '../helpers/smtp.ts';
import { createShardSet, keySlot } from '../../src/store/shards.ts';

let cluster: TestCluster;
let mx: TestMxhook;
let app: Receiver;
const prefix = `f${Date.now().toString(36)}`;
let victimPort: number | undefined;

beforeAll(async () => {
  cluster = await startTestCluster();
  // WAIT for one replica (the cluster default) before each 250.
  mx = await startTestMxhook({ cluster: cluster.seeds }, ['--shards', '16', '--redis-prefix', prefix, '--redis-wait-timeout', '1s', '--breaker-threshold', '1000']);
  app = await startReceiver();
  await mx.addRoute('parse.example.com', app.url);
}, 60_000);
afterAll(async () => {
  await mx?.close();
  await app?.close();
  await cluster?.cleanup();
});

it('kills the primary holding the routes and a third of the shards mid-flow: 451 in the gap, every 250 delivered', async () => {
  const accepted = new Set<string>();
  const refused: string[] = [];
  const failures: string[] = [];
  let sent = 0;
  let phase: 'before' | 'gap' | 'after' = 'before';
  let afterCount = 0;
  // Four senders, one message at a time each, until 30 messages were accepted after the failover.
  const sender = async () => {
    while (afterCount < 30) {
      const subject = `failover ${sent++}`;
      try {
        const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'b@parse.example.com', subject, text: subject });
        if (!/^250 /.test(info.response)) failures.push(`${subject}: ${info.response}`);
        accepted.add(subject);
        if (phase === 'after') afterCount++;
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        // 451, a temporary refusal, is the promise: the sender tries again later. Anything else is not.
        if (code === 451) refused.push(subject);
        else failures.push(`${subject}: ${String(err)}`);
      }
    }
  };
  const senders = Array.from({ length: 4 }, sender);
  while (accepted.size < 40) await app.waitFor(app.posts.length + 1, 10_000);
  // The primary of the shared space (routes): every lookup fails over with it.
  const sharedSlot = Number(await mx.redis.cluster('KEYSLOT', `{${prefix}}:routes`));
  const victim = (await cluster.primaries()).find((p) => p.slots.some(([a, b]) => sharedSlot >= a && sharedSlot <= b))!;
  victimPort = victim.port;
  await cluster.kill(victim.port);
  phase = 'gap';
  await cluster.waitForFailover(victim.port);
  phase = 'after';
  await Promise.all(senders);
  expect(failures).toEqual([]);
  expect(refused.length).toBeGreaterThan(0);
  // Every accepted message reaches the app (at least once; a delivery in flight at the kill may repeat).
  const delivered = () => new Set(app.posts.map((p) => p.fields.subject));
  while ([...accepted].some((s) => !delivered().has(s))) await app.waitFor(app.posts.length + 1, 30_000);
  expect([...accepted].filter((s) => !delivered().has(s))).toEqual([]);
  console.log(`failover: ${accepted.size} accepted, ${refused.length} refused with 451, ${app.posts.length - delivered().size} delivered twice`);
}, 120_000);

it('a replica down: its primary\'s shards answer 451 (never a 250 a failover could lose) until it is back; other shards 250', async () => {
  // The primary killed above comes back as a replica: every shard has one again.
  if (victimPort !== undefined) await cluster.restart(victimPort);
  const nodes = String(await mx.redis.cluster('NODES')).trim().split('\n').map((line) => line.split(' '));
  const sharedSlot = Number(await mx.redis.cluster('KEYSLOT', `{${prefix}}:routes`));
  const ownsSlot = (row: string[], slot: number) => row.slice(8).some((r) => {
    const [a, b = a] = r.split('-').map(Number);
    return slot >= a! && slot <= b!;
  });
  // A primary without the shared slot (routes stay readable), and its replica.
  const primary = nodes.find((row) => row[2]!.includes('master') && !row[2]!.includes('fail') && row.length > 8 && !ownsSlot(row, sharedSlot))!;
  const replica = nodes.find((row) => row[2]!.includes('slave') && row[3] === primary[0])!;
  const replicaPort = Number(replica[1]!.split(':')[1]!.split('@')[0]);
  await cluster.kill(replicaPort);
  const shards = createShardSet(prefix, 16, true);
  const onPrimary = (id: string) => ownsSlot(primary, keySlot(shards.current[shards.shardOf(id)]!.messageRaw(id)));
  const accepted: string[] = [];
  let refused = 0;
  for (let i = 0; i < 30; i++) {
    try {
      const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'b@parse.example.com', subject: `replica-down ${i}`, text: 'x' });
      accepted.push(/queued as (\S+)/.exec(info.response)![1]!);
    } catch (err) {
      expect((err as { responseCode?: number }).responseCode).toBe(451);
      refused++;
    }
  }
  // A third of the shards are on that primary: some mail was refused, none of it taken there.
  expect(refused).toBeGreaterThan(0);
  expect(accepted.length).toBeGreaterThan(0);
  expect(accepted.filter(onPrimary)).toEqual([]);
  await cluster.restart(replicaPort);
  // Past the accept's one-second hold after a shortfall, every shard takes mail again.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  for (let i = 0; i < 12; i++) {
    const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'b@parse.example.com', subject: `replica-back ${i}`, text: 'x' });
    expect(info.response).toMatch(/^250 /);
  }
  const subjects = () => new Set(app.posts.map((p) => p.fields.subject));
  while (Array.from({ length: 12 }, (_v, i) => `replica-back ${i}`).some((s) => !subjects().has(s))) await app.waitFor(app.posts.length + 1, 20_000);
}, 120_000);
