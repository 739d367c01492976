/** The api role: the SendGrid-compatible settings API, dead letters, stats and /metrics over HTTP. */
import { resolveApiKey } from '../../api/api-key.ts';
import { buildApiApp } from '../../api/app.ts';
import { createAcceptMessage, createDeliveryQueue } from '../../queue/delivery-queue.ts';
import { createSigningSecrets, loadEcdsaKey } from '../../routes/signing-secrets.ts';
import { createDeadLetterAdmin } from '../../services/dead-letter-admin.ts';
import { createRouteAdmin } from '../../services/route-admin.ts';
import { closeHttp, listenHttp } from '../http-listener.ts';
import type { RoleContext } from './context.ts';

export async function startApiRole(ctx: RoleContext): Promise<{ apiPort: number; generatedApiKey?: string }> {
  const { config, logger, keys, redis } = ctx;
  const apiKey = await resolveApiKey(redis, keys, config.apiKey);
  const apiQueue = createDeliveryQueue(ctx.connect('fail-fast', 'mxhook-api-queue'), keys);
  ctx.onStop(() => apiQueue.close());
  const app = await buildApiApp({
    redis, keys,
    routes: createRouteAdmin(redis, keys, ctx.routes, createSigningSecrets(redis, keys)),
    deadLetters: createDeadLetterAdmin({ redis, keys, accept: createAcceptMessage(apiQueue, keys) }),
    ecdsaPublicKey: () => loadEcdsaKey(redis, keys).then((k) => k.publicKeyBase64), apiKeyHash: apiKey.hash, logger,
    metrics: () => ctx.metrics.scrape(),
  });
  // Fastify's own server, listened on and closed like the other listeners (no fastify.listen).
  const apiPort = await listenHttp(app.server, config.apiPort, config.apiHost);
  ctx.onStopListening(() => closeHttp(app.server));
  ctx.onStop(() => app.close());
  logger.info({ event: 'api_listening', host: config.apiHost, port: apiPort });
  return { apiPort, ...(apiKey.generated ? { generatedApiKey: apiKey.generated } : {}) };
}
