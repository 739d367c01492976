/** The worker role: BullMQ delivery workers with their keep-alive pool, and the dead-letter sweep. */
import path from 'node:path';
import type { Config } from '../../config/schema.ts';
import type { RetryPolicy } from '../../domain/retry-policy.ts';
import { createDeliveryAgent } from '../../deliver/post.ts';
import type { Worker } from 'bullmq';
import { createByteBudget, createDeliveryWorker, LARGE_MESSAGE_BUDGET } from '../../deliver/worker.ts';
import type { DeliveryJobData } from '../../domain/message.ts';
import type { KeySpace } from '../../store/keys.ts';
import type { Redis } from '../../store/redis-client.ts';
import { createSigningSecrets, loadEcdsaKey } from '../../routes/signing-secrets.ts';
import { assertLibmimeInternals } from '../../parse/libmime-check.ts';
import { sweepExpiredDeadLetters } from '../../store/dead-letters.ts';
import { createDeliveryQueue } from '../../queue/delivery-queue.ts';
import { migrateLegacyPending } from '../../queue/legacy-pending.ts';
import { usesShareOfMax } from '../../store/redis-memory.ts';
import { createAttachmentLinks } from '../attachment-links.ts';
import { startKeptRawEviction } from '../kept-raw-eviction.ts';
import { startMessageLogTrim } from '../message-log-trim.ts';
import { createMinuteFigures } from '../../store/minute-figures.ts';
import type { RoleContext } from './context.ts';
import { startEventWebhooks } from './event-webhooks.ts';
import { rawBytesPerShard } from '../message-log-options.ts';

function retryPolicyFrom(config: Config): RetryPolicy {
  return {
    fastIntervalMs: config.retryFastInterval,
    fastPhaseMs: config.retryFastPhase,
    slowIntervalMs: config.retrySlowInterval,
    maxAgeMs: config.retryMaxAge,
  };
}

/** How often a worker process looks for shards it does not consume yet (another process's MXHOOK_SHARDS). */
const SHARD_WATCH_MS = 30_000;

export async function startWorkerRole(ctx: RoleContext): Promise<void> {
  const { config, logger, keys } = ctx;
  // Fails start-up loudly when the pinned libmime is not the one charset.ts reaches into.
  assertLibmimeInternals();
  const post = { connectTimeoutMs: config.connectTimeout, requestTimeoutMs: config.requestTimeout, allowPrivateDestinations: config.allowPrivateDestinations,
    responseExcerptChars: config.deadLetterResponseExcerpt };
  const agent = createDeliveryAgent(post);
  ctx.onStop(() => agent.close());
  const store = ctx.connect('patient', 'mxhook-worker-store', true);
  // Mail queued by 0.1.0 (a pending counter, no set): made deliverable before any job runs. Only
  // where 0.1.0 wrote it: the one key space of a single Redis (SCAN does not span a cluster).
  if (config.redisCluster === undefined) {
    const upgradeQueue = createDeliveryQueue(ctx.connect('patient', 'mxhook-worker-upgrade'), keys);
    const migrated = await migrateLegacyPending(store, upgradeQueue, keys, config.messageTtl).finally(() => upgradeQueue.close());
    if (migrated) logger.info({ event: 'legacy_messages_migrated', count: migrated });
  }
  const keepsRaw = config.messageLog && config.rawRetention > 0;
  // The overview's figures of deliveries, added to Redis once a second (store/minute-figures.ts).
  const figures = config.messageLog
    ? createMinuteFigures(store, keys, { onError: (err) => logger.warn({ event: 'minute_figures_failed', err: String(err) }) })
    : undefined;
  const connection = ctx.connect('patient', 'mxhook-worker');
  const secrets = createSigningSecrets(store, keys);
  const budget = createByteBudget(LARGE_MESSAGE_BUDGET);
  const shardCount = (await ctx.shards.all()).length;
  // The process's concurrency split over the shards (each shard's queue has a worker of its own).
  const concurrency = Math.max(1, Math.ceil(config.workerConcurrency / shardCount));
  const workers = new Map<string, Worker<DeliveryJobData>>();
  const consume = async (shard: KeySpace) => {
    const worker = createDeliveryWorker({
      connection, redis: store, keys: shard, sharedKeys: keys, budget, routes: ctx.routes, agent, post,
      secrets, ecdsaKey: () => loadEcdsaKey(store, keys).then((k) => k.privateKey),
      retryPolicy: retryPolicyFrom(config), messageTtlMs: config.messageTtl, deadLetterRetentionMs: config.deadLetterRetention,
      breaker: { threshold: config.breakerThreshold, cooldownMs: config.breakerCooldown, maxCooldownMs: 600_000 },
      concurrency, lockDurationMs: config.workerLockDuration, maxWorkerCrashes: config.maxWorkerCrashes,
      spamd: { host: config.spamdHost, port: config.spamdPort, timeoutMs: config.spamdTimeout },
      spoolDir: path.join(config.dataDir, 'spool'), logger, metrics: ctx.metrics.delivery, messageLog: config.messageLog,
      attachmentLink: createAttachmentLinks(config, store, keys, shard),
      // Raw bytes are kept for the log's download and redeliver only while Redis has room for them.
      ...(figures ? { figures } : {}),
      ...(keepsRaw ? { keepRaw: () => (usesShareOfMax(ctx.redisMemory.state(), config.rawRetentionMemory) ? undefined : { ttlMs: config.rawRetention, maxBytes: rawBytesPerShard(config) }) } : {}),
    });
    workers.set(shard.prefix, worker);
    await worker.waitUntilReady();
    startShardUpkeep(ctx, store, shard, keepsRaw);
  };
  for (const shard of await ctx.shards.all()) await consume(shard);
  // Shards another process added (a larger MXHOOK_SHARDS) are consumed from the next look on.
  const watch = setInterval(() => {
    void ctx.shards.all().then(async (all) => {
      for (const shard of all) if (!workers.has(shard.prefix)) await consume(shard);
    }).catch((err: unknown) => logger.warn({ event: 'shard_watch_failed', err: String(err) }));
  }, SHARD_WATCH_MS);
  watch.unref();
  // Workers finish the POSTs in progress before closing.
  // Stops run last registered first: the figures' last flush after the workers have closed (their
  // last deliveries counted), before the connections close.
  if (figures) ctx.onStop(() => figures.stop());
  ctx.onStop(async () => {
    clearInterval(watch);
    await Promise.all([...workers.values()].map((w) => w.close()));
  });
  if (!config.publicUrl) {
    logger.info({ event: 'attachment_links_local_only', message: 'MXHOOK_PUBLIC_URL is not set: JSON routes get attachment download links only when the app and the API are both on loopback; deliveries to other apps that need a link are retried with an error naming MXHOOK_PUBLIC_URL' });
  }
  await startEventWebhooks(ctx);
  logger.info({ event: 'worker_started', concurrency: config.workerConcurrency, shards: workers.size });
}

/** A shard's timers: dead letters past retention, the log's trim, kept raw copies' eviction. */
function startShardUpkeep(ctx: RoleContext, store: Redis, shard: KeySpace, keepsRaw: boolean): void {
  const { config, logger } = ctx;
  const sweep = setInterval(() => {
    sweepExpiredDeadLetters(store, shard, config.deadLetterRetention, Date.now()).catch((err) => logger.warn({ event: 'dead_letter_sweep_failed', err: String(err) }));
  }, Math.max(100, Math.min(60_000, config.deadLetterRetention / 2)));
  sweep.unref();
  ctx.onStop(async () => clearInterval(sweep));
  if (config.messageLog) {
    const stopTrim = startMessageLogTrim(store, shard, { retentionMs: config.messageLogRetention, rawRetentionMs: config.rawRetention, logger });
    ctx.onStop(async () => stopTrim());
  }
  // Also for the raw copies kept for attachment links, which any JSON route can make.
  const stopEviction = startKeptRawEviction(store, shard, { memory: ctx.redisMemory, fraction: config.rawRetentionMemory, keptRaw: keepsRaw, logger });
  ctx.onStop(async () => stopEviction());
}
