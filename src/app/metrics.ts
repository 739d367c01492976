/**
 * Prometheus metrics of one process (prom-client, a registry per process, never the global one):
 * the SMTP intake's accepted and refused mail, queue depth by state (read from Redis at scrape
 * time), delivery attempts by outcome, end-to-end latency and bytes in and out, plus Node's own
 * process metrics. Served at /metrics on the API port, or on --metrics-port (serveMetrics).
 * Labels never carry hostnames, addresses or ids: a scrape shows volumes, not mail.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeliveryMetrics, SmtpMetrics } from '../domain/metrics.ts';
import type { RedisMemoryState } from '../store/redis-memory.ts';
import { listenHttp } from './http-listener.ts';

export interface MxhookMetrics {
  readonly registry: Registry;
  readonly smtp: SmtpMetrics;
  readonly delivery: DeliveryMetrics;
  /** What a scrape returns. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

/** Queue depth by state (BullMQ's job counts); rejects when Redis cannot answer. */
type QueueCounts = () => Promise<Record<string, number>>;

// From 5 ms (a warm delivery on the same machine) to 72 h (the default retry window).
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 72 * 3600];
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What the message log dropped so far, by why (store/message-log-retention.ts readLogCuts). */
export type LogCuts = () => Promise<{ cap: number; retention: number; rawCap: number; rawMemory: number; attachmentCap: number; attachmentMemory: number }>;

/** Event-webhook totals (store/event-destinations.ts readEventCounts). */
export type EventCounts = () => Promise<{ sent: number; failed: number; dropped: number }>;

export function createMetrics(options: { queueCounts?: QueueCounts; redisMemory?: () => RedisMemoryState; logCuts?: LogCuts; eventCounts?: EventCounts } = {}): MxhookMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const accepted = new Counter({ name: 'mxhook_smtp_accepted_messages_total', help: 'Messages answered 250 and stored.', registers });
  const rejected = new Counter({
    name: 'mxhook_smtp_rejections_total', help: 'SMTP refusals (connection, recipient or message) by reply code and reason.',
    labelNames: ['reply', 'reason'] as const, registers,
  });
  const bytesIn = new Counter({ name: 'mxhook_smtp_received_bytes_total', help: 'Bytes of accepted messages, as stored (our Received: header included).', registers });
  const attempts = new Counter({
    name: 'mxhook_delivery_attempts_total', help: 'POST attempts by outcome: delivered (2xx), retry (will be tried again or dead-lettered when out of time), permanent (dead-lettered).',
    labelNames: ['outcome'] as const, registers,
  });
  const attemptSeconds = new Histogram({ name: 'mxhook_delivery_attempt_duration_seconds', help: 'Time of one POST attempt, building the payload included.', buckets: ATTEMPT_BUCKETS, registers });
  const bytesOut = new Counter({ name: 'mxhook_delivery_sent_bytes_total', help: 'Request body bytes of POSTs that got an answer.', registers });
  const latency = new Histogram({
    name: 'mxhook_delivery_latency_seconds', help: 'From receipt (end of DATA) to the app\'s 2xx, retries included.', buckets: LATENCY_BUCKETS, registers,
  });
  if (options.queueCounts) {
    const queueCounts = options.queueCounts;
    new Gauge({
      name: 'mxhook_queue_jobs', help: 'Deliveries in the queue by state, read from Redis at scrape time (the same on every process).',
      labelNames: ['state'] as const, registers,
      async collect() {
        // Redis down: the gauge keeps its last values rather than failing the whole scrape.
        const counts = await queueCounts().catch(() => undefined);
        for (const [state, n] of Object.entries(counts ?? {})) this.set({ state }, n);
      },
    });
  }

  if (options.logCuts) {
    const logCuts = options.logCuts;
    // A gauge of Redis's running totals (the same on every process), so it never double counts.
    new Gauge({
      name: 'mxhook_message_log_dropped', help: 'Message-log records dropped by the record cap (cap) or retention, and kept raw messages dropped by the byte cap (raw_cap) or for Redis memory (raw_memory), and raw copies kept for attachment download links dropped the same two ways (attachment_cap, attachment_memory), since the log began; read from Redis at scrape time.',
      labelNames: ['reason'] as const, registers,
      async collect() {
        const cuts = await logCuts().catch(() => undefined);
        if (!cuts) return;
        this.set({ reason: 'cap' }, cuts.cap);
        this.set({ reason: 'retention' }, cuts.retention);
        this.set({ reason: 'raw_cap' }, cuts.rawCap);
        this.set({ reason: 'raw_memory' }, cuts.rawMemory);
        this.set({ reason: 'attachment_cap' }, cuts.attachmentCap);
        this.set({ reason: 'attachment_memory' }, cuts.attachmentMemory);
      },
    });
  }

  if (options.eventCounts) {
    const eventCounts = options.eventCounts;
    // Redis's running totals, the same on every process (as the log's cuts above).
    const gauge = (name: string, help: string, pick: (c: { sent: number; failed: number; dropped: number }) => number) => new Gauge({
      name, help, registers,
      async collect() {
        const counts = await eventCounts().catch(() => undefined);
        if (counts) this.set(pick(counts));
      },
    });
    gauge('mxhook_event_webhook_events_sent', 'Event-webhook events accepted (2xx) by their destinations, since the start; read from Redis at scrape time.', (c) => c.sent);
    gauge('mxhook_event_webhook_posts_failed', 'Event-webhook batch POSTs that failed (no answer or not 2xx; each is retried until the max age), since the start.', (c) => c.failed);
    gauge('mxhook_event_webhook_events_dropped', 'Event-webhook events dropped: past a destination\'s backlog cap, past the max age, or queued for a disabled destination; since the start.', (c) => c.dropped);
  }

  if (options.redisMemory) {
    const memory = options.redisMemory;
    new Gauge({
      name: 'mxhook_redis_memory_high', help: 'Redis memory use is above MXHOOK_REDIS_MEMORY_HIGH of maxmemory (1): new mail is answered 451 4.3.0.', registers,
      collect() {
        this.set(memory().level === 'high' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'mxhook_redis_memory_used_ratio', help: 'Redis used_memory / maxmemory at the last check (0 when Redis has no maxmemory).', registers,
      collect() {
        const { usedBytes, maxBytes } = memory();
        this.set(maxBytes > 0 ? usedBytes / maxBytes : 0);
      },
    });
  }

  return {
    registry,
    smtp: {
      accepted(bytes) {
        accepted.inc();
        bytesIn.inc(bytes);
      },
      rejected(reply, reason) {
        rejected.inc({ reply: String(reply), reason });
      },
    },
    delivery: {
      attempt(outcome, durationMs, bytesSent) {
        attempts.inc({ outcome });
        attemptSeconds.observe(durationMs / 1000);
        if (bytesSent) bytesOut.inc(bytesSent);
      },
      delivered(sinceReceivedMs) {
        latency.observe(Math.max(0, sinceReceivedMs) / 1000);
      },
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** A listener that serves only GET /metrics, for processes without the API role (--metrics-port). */
export async function serveMetrics(metrics: MxhookMetrics, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: only GET /metrics is served here\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
    );
  });
  return { server, port: await listenHttp(server, port, host) };
}
