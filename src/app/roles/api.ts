/** The api role: the SendGrid-compatible settings API, dead letters, stats and /metrics over HTTP. */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveApiKey } from '../../api/api-key.ts';
import type { StoredMessageMeta } from '../../domain/message.ts';
import { buildMessagePreview } from '../../parse/preview.ts';
import { extractAttachment } from '../../parse/attachment-extract.ts';
import { reachableHost, sendTestMail } from '../test-mail.ts';
import { buildApiApp } from '../../api/app.ts';
import { createShardQueues } from '../../queue/delivery-queue.ts';
import { createShardedAccept } from '../../queue/sharded-accept.ts';
import { createSigningSecrets, loadEcdsaKey } from '../../routes/signing-secrets.ts';
import { createDeadLetterAdmin } from '../../services/dead-letter-admin.ts';
import { createRouteAdmin } from '../../services/route-admin.ts';
import { createEventDestinationAdmin } from '../../services/event-destination-admin.ts';
import { closeHttp, listenHttp } from '../http-listener.ts';
import { API_URL_FILE, localApiUrl } from '../api-url.ts';
import { waitForRedis } from '../../store/redis.ts';
import type { RoleContext } from './context.ts';
import { messageLogOptions } from '../message-log-options.ts';

export async function startApiRole(ctx: RoleContext, smtpPort?: number): Promise<{ apiPort: number; generatedApiKey?: string }> {
  const { config, logger, keys, redis } = ctx;
  const apiKey = await resolveApiKey(redis, keys, config.apiKey);
  // Ready first (BullMQ's first command is sent at once, and a fail-fast client not yet connected refuses it).
  const queueConnection = ctx.connect('fail-fast', 'mxhook-api-queue');
  await waitForRedis(queueConnection);
  const apiQueues = createShardQueues(queueConnection, ctx.shards);
  ctx.onStop(() => apiQueues.close());
  const secrets = createSigningSecrets(redis, keys);
  // Replays and redeliveries are new messages, placed like mail (queues ready before the first:
  // BullMQ keeps a failed first connection's error for good).
  const accept = await createShardedAccept(apiQueues, redis, ctx.shards.shards, () => ({ messageTtlMs: config.messageTtl, messageLog: messageLogOptions(config) }));
  const app = await buildApiApp({
    redis, keys, shards: ctx.shards, secrets,
    routes: createRouteAdmin(redis, keys, ctx.routes, secrets, ctx.shards),
    deadLetters: createDeadLetterAdmin({ redis, keys, accept, shards: ctx.shards }),
    eventDestinations: createEventDestinationAdmin(redis, keys, { messageLog: config.messageLog }),
    ...(config.messageLog ? {
      messages: {
        accept,
        queueCounts: () => apiQueues.counts('waiting', 'active', 'delayed', 'failed'),
        // Through the SMTP listener like any sender's mail (this process's, or the configured one).
        testMail: async (hostname: string) => (await sendTestMail({ host: reachableHost(config.smtpHost), port: smtpPort ?? config.smtpPort }, hostname)).messageId,
        // With the route's settings as they are now, as a redelivery would be built.
        preview: async (raw: Buffer, meta: StoredMessageMeta, hostname: string) => buildMessagePreview(raw, {
          senderIp: meta.clientIp, mailFrom: meta.mailFrom, recipients: meta.recipients[hostname] ?? [], auth: meta.auth,
        }, path.join(config.dataDir, 'spool'), await ctx.routes.get(hostname)),
      },
    } : {}),
    extractAttachment: (raw: Buffer, part: number) => extractAttachment(raw, part, path.join(config.dataDir, 'spool')),
    ecdsaPublicKey: () => loadEcdsaKey(redis, keys).then((k) => k.publicKeyBase64), apiKeyHash: apiKey.hash, logger,
    metrics: () => ctx.metrics.scrape(), redisMemory: () => ctx.redisMemory.state(),
    ...(config.console ? {
      console: { sessions: { idleMs: config.consoleSessionIdle, maxAgeMs: config.consoleSessionMaxAge }, assetsDir: CONSOLE_ASSETS, secureCookie: config.consoleSecureCookie },
    } : {}),
  });
  // Fastify's own server, listened on and closed like the other listeners (no fastify.listen).
  const apiPort = await listenHttp(app.server, config.apiPort, config.apiHost);
  ctx.onStopListening(() => closeHttp(app.server));
  ctx.onStop(() => app.close());
  // Where `mxhook health` (the image's and compose's healthcheck) finds the port really bound,
  // whatever flag or variable set it.
  const urlFile = path.join(config.dataDir, API_URL_FILE);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await writeFile(urlFile, `${localApiUrl(config.apiHost, apiPort)}\n`);
  ctx.onStopListening(() => rm(urlFile, { force: true }));
  logger.info({ event: 'api_listening', host: config.apiHost, port: apiPort });
  return { apiPort, ...(apiKey.generated ? { generatedApiKey: apiKey.generated } : {}) };
}

/** Built by `npm run build` (scripts/build-console.mjs): dist/console, from src/ (tests) as from dist/. */
const CONSOLE_ASSETS = path.join(fileURLToPath(new URL('../../', import.meta.url)), '..', 'dist', 'console');
