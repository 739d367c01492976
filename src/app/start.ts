/**
 * Wires the pipeline for the roles this process runs (smtp, worker, api; all three by default),
 * against REDIS_URL or a managed local redis-server. Returns a handle to stop it cleanly.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SMTPServer } from 'smtp-server';
import type { Config } from '../config/schema.ts';
import { redactConfig } from '../config/load.ts';
import type { RetryPolicy } from '../domain/retry-policy.ts';
import { createApiHandler } from '../api/app.ts';
import { createMetrics, serveMetrics } from './metrics.ts';
import { resolveApiKey } from '../api/api-key.ts';
import { createDeliveryAgent } from '../deliver/post.ts';
import { createDeliveryWorker } from '../deliver/worker.ts';
import { createAcceptMessage, createDeliveryQueue } from '../queue/delivery-queue.ts';
import { createRouteRegistry } from '../routes/registry.ts';
import { createSmtpIntake } from '../smtp/intake.ts';
import { systemResolver, type DnsResolver } from '../smtp/auth-check.ts';
import { loadSmtpTls } from '../smtp/tls.ts';
import { createKeySpace } from '../store/keys.ts';
import { sweepExpiredDeadLetters } from '../store/dead-letters.ts';
import { createSigningSecrets, loadEcdsaKey } from '../routes/signing-secrets.ts';
import { startManagedRedis, type ManagedRedis } from '../store/managed-redis.ts';
import { createMessageStager } from '../store/message-stage.ts';
import { createRedis, waitForRedis } from '../store/redis.ts';

export type Role = 'smtp' | 'worker' | 'api';
export const ALL_ROLES: readonly Role[] = ['smtp', 'worker', 'api'];

export interface RunningMxhook {
  /** Bound SMTP port (useful with port 0), when the smtp role runs. */
  readonly smtpPort?: number;
  /** Bound implicit-TLS SMTP port, when --smtp-tls-port is set. */
  readonly smtpTlsPort?: number;
  readonly apiPort?: number;
  /** Bound port of the /metrics-only listener, when --metrics-port is set. */
  readonly metricsPort?: number;
  /** The Redis URL or socket in use. */
  readonly redisUrl: string;
  /** Set when no API key was configured and this start generated one. */
  readonly generatedApiKey?: string;
  stop(): Promise<void>;
}

export function retryPolicyFrom(config: Config): RetryPolicy {
  return {
    fastIntervalMs: config.retryFastInterval,
    fastPhaseMs: config.retryFastPhase,
    slowIntervalMs: config.retrySlowInterval,
    maxAgeMs: config.retryMaxAge,
  };
}

/** What tests may swap for a stand-in: the DNS resolver of the authentication checks. */
export interface MxhookDependencies {
  readonly dnsResolver?: DnsResolver;
}

export async function startMxhook(config: Config, roles: readonly Role[], logger: Logger, deps: MxhookDependencies = {}): Promise<RunningMxhook> {
  logger.info({ event: 'starting', roles, config: redactConfig(config) });
  // Listeners close first (no new sessions or requests), then workers finish their POSTs,
  // then connections and the managed redis-server go, in reverse order of creation.
  const listenerStops: (() => Promise<unknown>)[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    const run = (stop: () => Promise<unknown>) => stop().catch((err) => logger.warn({ event: 'stop_error', err: String(err) }));
    await Promise.all(listenerStops.map(run));
    for (const stop of stops.reverse()) await run(stop);
  };
  try {
    let managed: ManagedRedis | undefined;
    let redisUrl = config.redisUrl;
    if (!redisUrl) {
      managed = await startManagedRedis({
        dir: path.join(config.dataDir, 'redis'),
        onEvent: (event, detail) => logger.warn({ event, ...detail }),
      });
      stops.push(() => managed!.stop());
      redisUrl = managed.socketPath;
      logger.info({ event: 'managed_redis_started', socket: redisUrl });
    }
    const keys = createKeySpace(config.redisPrefix);
    const connect = (role: 'fail-fast' | 'patient', name: string, autoPipelining = false): Redis => {
      const redis = createRedis(redisUrl, role, name, autoPipelining);
      redis.on('error', (err) => logger.debug({ event: 'redis_error', connection: name, err: String(err) }));
      stops.push(() => redis.quit().catch(() => redis.disconnect()));
      return redis;
    };
    const redis = connect('fail-fast', 'mxhook', true);
    await waitForRedis(redis);
    const routes = createRouteRegistry(redis, keys);
    const result: { smtpPort?: number; smtpTlsPort?: number; apiPort?: number; metricsPort?: number; generatedApiKey?: string } = {};
    // One metrics registry per process (app/metrics.ts); queue depth is read from Redis when scraped.
    const metricsQueue = roles.includes('api') || config.metricsPort !== undefined ? createDeliveryQueue(connect('fail-fast', 'mxhook-metrics'), keys) : undefined;
    if (metricsQueue) stops.push(() => metricsQueue.close());
    const metrics = createMetrics(metricsQueue
      ? { queueCounts: () => metricsQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed') }
      : {});

    if (roles.includes('smtp')) {
      const queue = createDeliveryQueue(connect('fail-fast', 'mxhook-intake'), keys);
      stops.push(() => queue.close());
      await queue.waitUntilReady();
      // Large messages are appended to Redis as they arrive, on a connection of their own so a
      // megabyte append never delays a RCPT's route lookup.
      const stageConnection = connect('fail-fast', 'mxhook-intake-stage');
      await waitForRedis(stageConnection);
      let draining = false;
      const server = createSmtpIntake({
        isDraining: () => draining, metrics: metrics.smtp, stageMessage: createMessageStager(stageConnection, keys),
        hostname: config.hostname ?? 'localhost', maxMessageSize: config.maxMessageSize, maxRecipients: config.maxRecipients,
        maxClients: config.maxClients, reservedLocalParts: config.reservedLocalParts, logProtocol: config.logSmtp,
        lookupRoute: (hostname) => routes.get(hostname), acceptMessage: createAcceptMessage(queue, keys, redis), logger,
        maxConnectionsPerIp: config.maxConnectionsPerIp, sessionDeadlineMs: config.smtpSessionDeadline, maxCommands: config.maxCommands,
        idleTimeoutMs: config.smtpIdleTimeout, proxyProtocol: config.proxyProtocol,
        tls: await loadSmtpTls({ certPath: config.tlsCert, keyPath: config.tlsKey, selfSigned: config.tlsSelfSigned, hostname: config.hostname ?? 'localhost' }, logger),
        tlsWatchIntervalMs: config.tlsWatchInterval, implicitTls: config.smtpTlsPort !== undefined,
        auth: config.authChecks
          ? { authservId: config.hostname ?? 'localhost', timeoutMs: config.authTimeout, resolver: deps.dnsResolver ?? systemResolver(config.dnsTimeout) }
          : undefined,
      });
      await listen(server, config.smtpPort, config.smtpHost);
      // Drain: new connections get 421 4.3.2, sessions in progress get the shutdown timeout to finish.
      listenerStops.push(async () => {
        draining = true;
        logger.info({ event: 'smtp_draining', sessions: server.connections.size });
        await drainAndClose(server, Date.now() + config.shutdownTimeout);
      });
      result.smtpPort = (server.server.address() as AddressInfo).port;
      logger.info({ event: 'smtp_listening', host: config.smtpHost, port: result.smtpPort });
      const tlsServer = server.implicitTls;
      if (tlsServer) {
        await listen(tlsServer, config.smtpTlsPort, config.smtpHost);
        listenerStops.push(() => drainAndClose(tlsServer, Date.now() + config.shutdownTimeout));
        result.smtpTlsPort = (tlsServer.server.address() as AddressInfo).port;
        logger.info({ event: 'smtp_tls_listening', host: config.smtpHost, port: result.smtpTlsPort });
      }
    }

    if (roles.includes('worker')) {
      const post = { connectTimeoutMs: config.connectTimeout, requestTimeoutMs: config.requestTimeout, allowPrivateDestinations: config.allowPrivateDestinations };
      const agent = createDeliveryAgent(post);
      stops.push(() => agent.close());
      const store = connect('patient', 'mxhook-worker-store', true);
      const worker = createDeliveryWorker({
        connection: connect('patient', 'mxhook-worker'), redis: store, keys, routes, agent, post,
        secrets: createSigningSecrets(store, keys), ecdsaKey: () => loadEcdsaKey(store, keys).then((k) => k.privateKey),
        retryPolicy: retryPolicyFrom(config), deadLetterRetentionMs: config.deadLetterRetention,
        breaker: { threshold: config.breakerThreshold, cooldownMs: config.breakerCooldown, maxCooldownMs: 600_000 },
        concurrency: config.workerConcurrency, lockDurationMs: config.workerLockDuration,
        spamd: { host: config.spamdHost, port: config.spamdPort, timeoutMs: config.spamdTimeout },
        spoolDir: path.join(config.dataDir, 'spool'), logger, metrics: metrics.delivery,
      });
      // Workers finish the POSTs in progress before closing.
      stops.push(() => worker.close());
      await worker.waitUntilReady();
      const sweep = setInterval(() => {
        sweepExpiredDeadLetters(store, keys, config.deadLetterRetention, Date.now()).catch((err) => logger.warn({ event: 'dead_letter_sweep_failed', err: String(err) }));
      }, Math.max(100, Math.min(60_000, config.deadLetterRetention / 2)));
      sweep.unref();
      stops.push(async () => clearInterval(sweep));
      logger.info({ event: 'worker_started', concurrency: config.workerConcurrency });
    }

    if (roles.includes('api')) {
      const apiKey = await resolveApiKey(redis, keys, config.apiKey);
      if (apiKey.generated) result.generatedApiKey = apiKey.generated;
      const apiQueue = createDeliveryQueue(connect('fail-fast', 'mxhook-api-queue'), keys);
      stops.push(() => apiQueue.close());
      const server: Server = createServer(createApiHandler({
        redis, keys, routes, secrets: createSigningSecrets(redis, keys), accept: createAcceptMessage(apiQueue, keys),
        ecdsaPublicKey: () => loadEcdsaKey(redis, keys).then((k) => k.publicKeyBase64), apiKeyHash: apiKey.hash, logger,
        metrics: () => metrics.scrape(),
      }));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.apiPort, config.apiHost, () => resolve());
      });
      listenerStops.push(() => new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }));
      result.apiPort = (server.address() as AddressInfo).port;
      logger.info({ event: 'api_listening', host: config.apiHost, port: result.apiPort });
    }
    if (config.metricsPort !== undefined) {
      // For processes without the API (e.g. `mxhook worker`): each serves its own registry.
      const listener = await serveMetrics(metrics, config.apiHost, config.metricsPort);
      listenerStops.push(() => new Promise<void>((resolve) => {
        listener.server.close(() => resolve());
        listener.server.closeIdleConnections();
      }));
      result.metricsPort = listener.port;
      logger.info({ event: 'metrics_listening', host: config.apiHost, port: listener.port });
    }
    return { ...result, redisUrl, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
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
