/** The worker role: BullMQ delivery workers with their keep-alive pool, and the dead-letter sweep. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/schema.ts';
import type { RetryPolicy } from '../../domain/retry-policy.ts';
import { createDeliveryAgent } from '../../deliver/post.ts';
import { createDeliveryWorker } from '../../deliver/worker.ts';
import { createSigningSecrets, loadEcdsaKey } from '../../routes/signing-secrets.ts';
import { assertLibmimeInternals } from '../../parse/libmime-check.ts';
import { sweepExpiredDeadLetters } from '../../store/dead-letters.ts';
import { createDeliveryQueue } from '../../queue/delivery-queue.ts';
import { migrateLegacyPending } from '../../queue/legacy-pending.ts';
import { usesShareOfMax } from '../../store/redis-memory.ts';
import { startKeptRawEviction } from '../kept-raw-eviction.ts';
import { startMessageLogTrim } from '../message-log-trim.ts';
import type { RoleContext } from './context.ts';
import { startEventWebhooks } from './event-webhooks.ts';
import { API_URL_FILE, isLoopbackUrl } from '../api-url.ts';
import { ATTACHMENTS_PATH, attachmentToken } from '../../domain/attachment-token.ts';
import { createAttachmentSecret, keepRawForLinks } from '../../store/attachment-links.ts';
import type { KeySpace } from '../../store/keys.ts';

function retryPolicyFrom(config: Config): RetryPolicy {
  return {
    fastIntervalMs: config.retryFastInterval,
    fastPhaseMs: config.retryFastPhase,
    slowIntervalMs: config.retrySlowInterval,
    maxAgeMs: config.retryMaxAge,
  };
}

export async function startWorkerRole(ctx: RoleContext): Promise<void> {
  const { config, logger, keys } = ctx;
  // Fails start-up loudly when the pinned libmime is not the one charset.ts reaches into.
  assertLibmimeInternals();
  const post = { connectTimeoutMs: config.connectTimeout, requestTimeoutMs: config.requestTimeout, allowPrivateDestinations: config.allowPrivateDestinations,
    responseExcerptChars: config.deadLetterResponseExcerpt };
  const agent = createDeliveryAgent(post);
  ctx.onStop(() => agent.close());
  const store = ctx.connect('patient', 'mxhook-worker-store', true);
  // Mail queued by 0.1.0 (a pending counter, no set): made deliverable before any job runs.
  const upgradeQueue = createDeliveryQueue(ctx.connect('patient', 'mxhook-worker-upgrade'), keys);
  const migrated = await migrateLegacyPending(store, upgradeQueue, keys, config.messageTtl).finally(() => upgradeQueue.close());
  if (migrated) logger.info({ event: 'legacy_messages_migrated', count: migrated });
  const keepsRaw = config.messageLog && config.rawRetention > 0;
  const worker = createDeliveryWorker({
    connection: ctx.connect('patient', 'mxhook-worker'), redis: store, keys, routes: ctx.routes, agent, post,
    secrets: createSigningSecrets(store, keys), ecdsaKey: () => loadEcdsaKey(store, keys).then((k) => k.privateKey),
    retryPolicy: retryPolicyFrom(config), deadLetterRetentionMs: config.deadLetterRetention,
    breaker: { threshold: config.breakerThreshold, cooldownMs: config.breakerCooldown, maxCooldownMs: 600_000 },
    concurrency: config.workerConcurrency, lockDurationMs: config.workerLockDuration, maxWorkerCrashes: config.maxWorkerCrashes,
    spamd: { host: config.spamdHost, port: config.spamdPort, timeoutMs: config.spamdTimeout },
    spoolDir: path.join(config.dataDir, 'spool'), logger, metrics: ctx.metrics.delivery, messageLog: config.messageLog,
    attachmentLink: attachmentLinks(config, store, keys),
    // Raw bytes are kept for the log's download and redeliver only while Redis has room for them.
    ...(keepsRaw ? { keepRaw: () => (usesShareOfMax(ctx.redisMemory.state(), config.rawRetentionMemory) ? undefined : { ttlMs: config.rawRetention, maxBytes: config.rawRetentionMaxBytes }) } : {}),
  });
  // Workers finish the POSTs in progress before closing.
  ctx.onStop(() => worker.close());
  await worker.waitUntilReady();
  const sweep = setInterval(() => {
    sweepExpiredDeadLetters(store, keys, config.deadLetterRetention, Date.now()).catch((err) => logger.warn({ event: 'dead_letter_sweep_failed', err: String(err) }));
  }, Math.max(100, Math.min(60_000, config.deadLetterRetention / 2)));
  sweep.unref();
  ctx.onStop(async () => clearInterval(sweep));
  if (config.messageLog) {
    const stopTrim = startMessageLogTrim(store, keys, { retentionMs: config.messageLogRetention, rawRetentionMs: config.rawRetention, logger });
    ctx.onStop(async () => stopTrim());
  }
  // Also for the raw copies kept for attachment links, which any JSON route can make.
  const stopEviction = startKeptRawEviction(store, keys, { memory: ctx.redisMemory, fraction: config.rawRetentionMemory, keptRaw: keepsRaw, logger });
  ctx.onStop(async () => stopEviction());
  if (!config.publicUrl) {
    logger.info({ event: 'attachment_links_local_only', message: 'MXHOOK_PUBLIC_URL is not set: JSON routes get attachment download links only when the app and the API are both on loopback; deliveries to other apps that need a link are retried with an error naming MXHOOK_PUBLIC_URL' });
  }
  await startEventWebhooks(ctx);
  logger.info({ event: 'worker_started', concurrency: config.workerConcurrency });
}

/**
 * Download links of large attachments in JSON POSTs: signed tokens on the API (api/attachments.ts),
 * at MXHOOK_PUBLIC_URL or else the address this data directory's api role wrote at its start. That
 * address is a loopback one when the API binds a wildcard or loopback address: it serves only apps
 * on this machine, so a remote app gets an error (the delivery retried) instead of a dead link.
 */
function attachmentLinks(config: Config, store: Redis, keys: KeySpace): (messageId: string, part: number, destination: string) => Promise<{ url: string; expiresAt: number }> {
  const secret = createAttachmentSecret(store, keys);
  return async (messageId, part, destination) => {
    const expiresAt = Math.floor((Date.now() + config.attachmentUrlTtl) / 1000);
    const base = config.publicUrl ?? (await readFile(path.join(config.dataDir, API_URL_FILE), 'utf8').then((text) => text.trim(), () => undefined));
    if (!base) throw new Error('attachment links need the API\'s address: set MXHOOK_PUBLIC_URL (no api role runs with this data directory)');
    if (!config.publicUrl && isLoopbackUrl(base) && !isLoopbackUrl(destination)) {
      throw new Error(`attachment links need an address the app can reach: set MXHOOK_PUBLIC_URL (the API is known only as ${base}, on loopback)`);
    }
    const key = await secret();
    const kept = await keepRawForLinks(store, keys, messageId, expiresAt * 1000, config.rawRetentionMaxBytes);
    if (kept === 'gone') throw new Error('the raw message is no longer stored');
    if (kept === 'too-large') throw new Error('the message is larger than MXHOOK_RAW_RETENTION_MAX_BYTES, which bounds the raw copies kept for attachment links');
    return { url: `${base}${ATTACHMENTS_PATH}/${attachmentToken(key, { messageId, part, expiresAt })}`, expiresAt };
  };
}
