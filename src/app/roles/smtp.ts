/** The smtp role: the MX-facing listener (and the implicit-TLS one when asked for), draining on stop. */
import type { AddressInfo } from 'node:net';
import type { SMTPServer } from 'smtp-server';
import type { RefusedAccepts } from '../../queue/accept.ts';
import { createShardedAccept } from '../../queue/sharded-accept.ts';
import { startAcceptSweep } from '../../queue/accept-sweep.ts';
import { createShardQueues } from '../../queue/delivery-queue.ts';
import { systemResolver, type DnsResolver } from '../../smtp/auth-check.ts';
import { createSmtpIntake } from '../../smtp/intake.ts';
import { assertSmtpServerInternals } from '../../smtp/smtp-server-check.ts';
import { loadSmtpTls } from '../../smtp/tls.ts';
import { createMessageStager } from '../../store/message-stage.ts';
import { createMinuteFigures } from '../../store/minute-figures.ts';
import { createRefusalCounter } from '../../store/refusal-counter.ts';
import { waitForRedis } from '../../store/redis.ts';
import type { RoleContext } from './context.ts';
import { messageLogOptions } from '../message-log-options.ts';

/** How often the accept journal is swept (queue/accept-sweep.ts). */
const ACCEPT_SWEEP_INTERVAL_MS = 30_000;

export async function startSmtpRole(ctx: RoleContext, dnsResolver: DnsResolver | undefined): Promise<{ smtpPort: number; smtpTlsPort?: number }> {
  const { config, logger, keys } = ctx;
  // Fails start-up loudly when the pinned smtp-server is not the one whose internals we patch.
  assertSmtpServerInternals();
  // One queue per shard, on one connection; a message and its jobs go to the shard of its id.
  // Ready first: BullMQ asks the server's version at once, which a fail-fast client not yet
  // connected refuses (a Cluster's takes a moment longer than one Redis).
  const intake = ctx.connect('fail-fast', 'mxhook-intake');
  await waitForRedis(intake);
  const queues = createShardQueues(intake, ctx.shards);
  ctx.onStop(() => queues.close());
  const current = ctx.shards.shards.current;
  // Large messages are appended to Redis as they arrive, on a connection of their own so a
  // megabyte append never delays a RCPT's route lookup.
  const stageConnection = ctx.connect('fail-fast', 'mxhook-intake-stage');
  await waitForRedis(stageConnection);
  // Every shard's journal is swept, draining ones too (a half-done accept of an older process).
  const refused = new Map<string, RefusedAccepts>(current.map((k) => [k.prefix, new Map()]));
  for (const k of await ctx.shards.all()) {
    const stopSweep = startAcceptSweep({ queue: queues.of(k), redis: ctx.redis, keys: k, logger, refused: refused.get(k.prefix) ?? new Map() }, ACCEPT_SWEEP_INTERVAL_MS);
    ctx.onStop(stopSweep);
  }
  // WAIT holds its connection until the replicas answer: not the shared one.
  const waitConnection = ctx.waitReplicas > 0 ? ctx.connect('fail-fast', 'mxhook-intake-wait', true) : undefined;
  if (waitConnection) await waitForRedis(waitConnection);
  const replicas = waitConnection ? { count: ctx.waitReplicas, timeoutMs: config.redisWaitTimeout, redis: waitConnection } : undefined;
  let draining = false;
  const hostname = config.hostname ?? 'localhost';
  // With the message log, refusals are also counted by reason and hostname: the overview draws them,
  // the event webhook publishes each minute's as `refused` events.
  const refusals = config.messageLog
    ? createRefusalCounter(ctx.redis, keys, { onError: (err) => logger.warn({ event: 'refusal_count_failed', err: String(err) }) })
    : undefined;
  if (refusals) ctx.onStop(() => refusals.stop());
  // ...and mail in per minute, for the same overview.
  const figures = config.messageLog
    ? createMinuteFigures(ctx.redis, keys, { onError: (err) => logger.warn({ event: 'minute_figures_failed', err: String(err) }) })
    : undefined;
  if (figures) ctx.onStop(() => figures.stop());
  const metrics = refusals ? {
    accepted: (bytes: number) => ctx.metrics.smtp.accepted(bytes),
    rejected: (reply: number, reason: string, refusedHostname?: string) => {
      ctx.metrics.smtp.rejected(reply, reason);
      refusals.count(reason, refusedHostname);
    },
  } : ctx.metrics.smtp;
  const stagers = current.map((k) => createMessageStager(stageConnection, k));
  const acceptMessage = await createShardedAccept(queues, ctx.redis, ctx.shards.shards, (k) => ({
    messageTtlMs: config.messageTtl, messageLog: messageLogOptions(config), refused: refused.get(k.prefix)!,
    ...(figures ? { figures } : {}), ...(replicas ? { replicas } : {}),
  }));
  const server = createSmtpIntake({
    isDraining: () => draining, metrics, stageMessage: (id) => stagers[ctx.shards.shards.shardOf(id)]!(id),
    hostname, maxMessageSize: config.maxMessageSize, maxRecipients: config.maxRecipients,
    maxClients: config.maxClients, reservedLocalParts: config.reservedLocalParts, logProtocol: config.logSmtp,
    lookupRoute: (name) => ctx.routes.get(name),
    acceptMessage, logger,
    isStoreFull: () => ctx.redisMemory.isHigh(),
    maxConnectionsPerIp: config.maxConnectionsPerIp, sessionDeadlineMs: config.smtpSessionDeadline, maxCommands: config.maxCommands,
    maxConnectionsPerIpv4Network: config.maxConnectionsPerIpv4Network, maxConnectionsPerIpv6Network: config.maxConnectionsPerIpv6Network,
    commandDeadlineMs: config.smtpCommandDeadline, minDataRate: config.smtpMinDataRate, dataRateWindowMs: config.smtpDataRateWindow,
    idleTimeoutMs: config.smtpIdleTimeout, proxyProtocol: config.proxyProtocol,
    tls: await loadSmtpTls({ certPath: config.tlsCert, keyPath: config.tlsKey, selfSigned: config.tlsSelfSigned, hostname }, logger),
    tlsWatchIntervalMs: config.tlsWatchInterval, implicitTls: config.smtpTlsPort !== undefined,
    auth: config.authChecks
      ? { authservId: hostname, timeoutMs: config.authTimeout, resolver: dnsResolver ?? systemResolver(config.dnsTimeout) }
      : undefined,
  });
  await listen(server, config.smtpPort, config.smtpHost);
  // Drain: new connections get 421 4.3.2, sessions in progress get the shutdown timeout to finish.
  ctx.onStopListening(async () => {
    draining = true;
    logger.info({ event: 'smtp_draining', sessions: server.connections.size });
    await drainAndClose(server, Date.now() + config.shutdownTimeout);
  });
  const smtpPort = (server.server.address() as AddressInfo).port;
  logger.info({ event: 'smtp_listening', host: config.smtpHost, port: smtpPort });
  const tlsServer = server.implicitTls;
  if (!tlsServer) return { smtpPort };
  await listen(tlsServer, config.smtpTlsPort, config.smtpHost);
  ctx.onStopListening(() => drainAndClose(tlsServer, Date.now() + config.shutdownTimeout));
  const smtpTlsPort = (tlsServer.server.address() as AddressInfo).port;
  logger.info({ event: 'smtp_tls_listening', host: config.smtpHost, port: smtpTlsPort });
  return { smtpPort, smtpTlsPort };
}

function listen(server: SMTPServer, port: number | undefined, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/** Waits for the sessions in progress to end (or the deadline), then closes the listener. */
async function drainAndClose(server: SMTPServer, deadline: number): Promise<void> {
  while (server.connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
