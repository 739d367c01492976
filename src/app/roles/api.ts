/** The api role: the SendGrid-compatible settings API, dead letters, stats and /metrics over HTTP. */
import { createServer, type Server } from 'node:http';
import { resolveApiKey } from '../../api/api-key.ts';
import { createApiHandler } from '../../api/app.ts';
import { createAcceptMessage } from '../../queue/accept.ts';
import { createDeliveryQueue } from '../../queue/delivery-queue.ts';
import { createSigningSecrets, loadEcdsaKey } from '../../routes/signing-secrets.ts';
import { closeHttp, listenHttp } from '../http-listener.ts';
import type { RoleContext } from './context.ts';

export async function startApiRole(ctx: RoleContext): Promise<{ apiPort: number; generatedApiKey?: string }> {
  const { config, logger, keys, redis } = ctx;
  const apiKey = await resolveApiKey(redis, keys, config.apiKey);
  const apiQueue = createDeliveryQueue(ctx.connect('fail-fast', 'mxhook-api-queue'), keys);
  ctx.onStop(() => apiQueue.close());
  // Ready before the first replay: BullMQ keeps a failed first connection's error for good.
  await apiQueue.waitUntilReady();
  const server: Server = createServer(createApiHandler({
    redis, keys, routes: ctx.routes, secrets: createSigningSecrets(redis, keys), accept: createAcceptMessage(apiQueue, redis, keys, { messageTtlMs: config.messageTtl }),
    ecdsaPublicKey: () => loadEcdsaKey(redis, keys).then((k) => k.publicKeyBase64), apiKeyHash: apiKey.hash, logger,
    metrics: () => ctx.metrics.scrape(), redisMemory: () => ctx.redisMemory.state(),
  }));
  const apiPort = await listenHttp(server, config.apiPort, config.apiHost);
  ctx.onStopListening(() => closeHttp(server));
  logger.info({ event: 'api_listening', host: config.apiHost, port: apiPort });
  return { apiPort, ...(apiKey.generated ? { generatedApiKey: apiKey.generated } : {}) };
}
