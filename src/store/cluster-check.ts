/**
 * Start-up checks of a Redis Cluster: every primary must have the replicas an accept waits for
 * (MXHOOK_REDIS_WAIT_REPLICAS), or every message would be refused 451 once running.
 */
import { Cluster } from 'ioredis';
import type { Redis } from './redis-client.ts';

/** Primaries (`ip:port`) and how many connected replicas each has, from CLUSTER NODES. */
export function replicasPerPrimary(clusterNodes: string): Map<string, number> {
  const rows = clusterNodes.trim().split('\n').map((line) => line.split(' '));
  const primaries = new Map<string, { address: string; replicas: number }>();
  for (const [id, address, flags] of rows) {
    if (flags?.split(',').includes('master') && !flags.includes('fail')) primaries.set(id!, { address: address!.split('@')[0]!, replicas: 0 });
  }
  for (const [, , flags, primaryId, , , , link] of rows) {
    const primary = primaries.get(primaryId ?? '');
    if (primary && flags?.split(',').includes('slave') && !flags.includes('fail') && link === 'connected') primary.replicas++;
  }
  return new Map([...primaries.values()].map((p) => [p.address, p.replicas]));
}

/** How long a shortfall may last before start-up gives up: a node just joined is known to the rest by gossip, within a second or two. */
const SETTLE_MS = 5_000;

export async function checkClusterReplicas(redis: Redis, wanted: number, settleMs = SETTLE_MS): Promise<void> {
  if (!(redis instanceof Cluster)) return;
  const deadline = Date.now() + settleMs;
  let short: [string, number][];
  for (;;) {
    short = [...replicasPerPrimary(String(await redis.cluster('NODES')))].filter(([, n]) => n < wanted);
    if (!short.length || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (short.length) {
    throw new Error(`Redis Cluster primaries ${short.map(([a, n]) => `${a} (${n})`).join(', ')} have fewer than the ${wanted} replica(s) `
      + 'an accept waits for (MXHOOK_REDIS_WAIT_REPLICAS): add replicas, or set MXHOOK_REDIS_WAIT_REPLICAS=0 to accept mail a failover may lose');
  }
}
