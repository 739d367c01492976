/**
 * The event webhook in the worker role: the dispatcher that cuts batches from the message log's
 * stream and the sender that POSTs them, each on connections (and an HTTP pool) of their own, so a
 * destination that is down never slows mail intake or deliveries. Needs the message log: with
 * MXHOOK_MESSAGE_LOG=off nothing is started, and a line says so when destinations exist.
 */
import { createDeliveryAgent } from '../../deliver/post.ts';
import { startEventDispatcher } from '../../deliver/event-dispatcher.ts';
import { createEventSender } from '../../deliver/event-sender.ts';
import { createEventQueue } from '../../queue/event-queue.ts';
import { loadEcdsaKey } from '../../routes/signing-secrets.ts';
import { listEventDestinations } from '../../store/event-destinations.ts';
import type { RoleContext } from './context.ts';

/** Batches POSTed at once per worker process. */
const SENDER_CONCURRENCY = 4;

export async function startEventWebhooks(ctx: RoleContext): Promise<void> {
  const { config, logger, keys } = ctx;
  const store = ctx.connect('patient', 'mxhook-events-store', true);
  if (!config.messageLog) {
    const destinations = await listEventDestinations(store, keys);
    if (destinations.length) logger.warn({ event: 'event_webhooks_need_message_log', destinations: destinations.length });
    store.disconnect();
    return;
  }
  const post = { connectTimeoutMs: config.connectTimeout, requestTimeoutMs: config.requestTimeout, allowPrivateDestinations: config.allowPrivateDestinations };
  const agent = createDeliveryAgent(post);
  ctx.onStop(() => agent.close());
  const queue = createEventQueue(ctx.connect('patient', 'mxhook-events-queue'), keys);
  ctx.onStop(() => queue.close());
  const sender = createEventSender({
    connection: ctx.connect('patient', 'mxhook-events-sender'), redis: store, keys, agent, post,
    ecdsaKey: () => loadEcdsaKey(store, keys).then((k) => k.privateKey),
    maxAgeMs: config.eventWebhookMaxAge, maxIntervalMs: config.eventWebhookRetryMaxInterval, concurrency: SENDER_CONCURRENCY, logger,
  });
  // Not waited for: a destination that hangs must not hold up a shutdown. A batch cut short is
  // sent again once its lock expires (at least once).
  ctx.onStop(() => sender.close(true));
  // One dispatcher per stream: the shared space's (refusals) and each shard's (its mail's events).
  const dispatchers = (await ctx.shards.streams()).map((streamKeys) => startEventDispatcher({
    redis: store, stream: ctx.connect('patient', 'mxhook-events-stream'), queue, keys, streamKeys, routes: ctx.routes, backlogCap: config.eventWebhookBacklog, logger,
  }));
  // Stopped together: each may be finishing a read or a pause.
  ctx.onStop(() => Promise.all(dispatchers.map((d) => d.stop())));
  await sender.waitUntilReady();
}
