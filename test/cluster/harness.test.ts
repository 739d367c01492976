/**
 * The Redis Cluster harness (test/helpers/redis-cluster.ts) does what cluster tests will lean on:
 * keys spread over every primary, a killed primary's keys served by its promoted replica, and the
 * killed node back as a replica. The steps run in order on one cluster, each on the last's state.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../helpers/redis-cluster.ts';

const keys = Array.from({ length: 16 }, (_, i) => `{${i}}:harness`);

describe('the Redis Cluster test harness', () => {
  let cluster: TestCluster;
  let client: Cluster;
  let victim: { port: number; slots: [number, number][]; keys: string[] };
  let promotedPort: number;

  beforeAll(async () => {
    cluster = await startTestCluster();
    client = new Cluster(cluster.seeds.split(','));
  });

  afterAll(async () => {
    client?.disconnect();
    await cluster?.cleanup();
  });

  it('spreads hash-tagged keys over all three primaries, each write on a replica too', async () => {
    expect(cluster.nodes).toHaveLength(6);
    for (const key of keys) {
      // WAIT goes to the key's primary (the pipeline's slot): the write reached its replica.
      const [[setError, set], [waitError, replicas]] = (await client.pipeline().set(key, `value of ${key}`).call('WAIT', '1', '1000').exec())!;
      expect([setError, set, waitError, replicas]).toEqual([null, 'OK', null, 1]);
    }
    const counts = await cluster.keysPerPrimary('*:harness');
    expect(counts.size).toBe(3);
    for (const count of counts.values()) expect(count).toBeGreaterThan(0);
    expect([...counts.values()].reduce((a, b) => a + b)).toBe(keys.length);
    expect(await cluster.keysPerPrimary()).toEqual(counts);
  });

  it("serves a killed primary's keys from its promoted replica", async () => {
    const [primary] = await cluster.primaries();
    victim = { port: primary.port, slots: primary.slots, keys: await keysOn(primary.port) };
    expect(victim.keys.length).toBeGreaterThan(0);

    await cluster.kill(victim.port);
    await cluster.waitForFailover(victim.port);

    const primaries = await cluster.primaries();
    expect(primaries).toHaveLength(3);
    expect(primaries.map((p) => p.port)).not.toContain(victim.port);
    const promoted = primaries.find((p) => JSON.stringify(p.slots) === JSON.stringify(victim.slots));
    expect(promoted).toBeDefined();
    promotedPort = promoted!.port;
    for (const key of victim.keys) expect(await client.get(key)).toBe(`value of ${key}`);
  });

  it('takes the restarted node back as a replica of the promoted one', async () => {
    await cluster.restart(victim.port);
    expect((await cluster.primaries()).map((p) => p.port)).not.toContain(victim.port);
    const role = await onNode(victim.port, (redis) => redis.call('ROLE')) as [string, string, number, string];
    expect(role.slice(0, 4)).toEqual(['slave', '127.0.0.1', promotedPort, 'connected']);
    // Its copy came back from the new primary (the restart replays its own file, then resyncs).
    expect((await keysOn(victim.port)).sort()).toEqual([...victim.keys].sort());
  });
});

async function onNode<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** The harness's keys held on one node (a replica's too: SCAN reads any node's own keyspace). */
function keysOn(port: number): Promise<string[]> {
  return onNode(port, (redis) => redis.keys('*:harness'));
}
