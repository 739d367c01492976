/**
 * The message log over HTTP, as a Fastify plugin: list (filters, cursor, newest first), show,
 * raw bytes, redeliver. Register it inside the scope that checks the API key; errors answer in
 * SendGrid's shape `{"errors":[{"field":..,"message":..}]}`.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Redis } from '../store/redis-client.ts';
import libmime from 'libmime';
import { normalizeHostname } from '../domain/address.ts';
import { MxhookError } from '../domain/errors.ts';
import { sendMxhookError } from './errors.ts';
import { DELIVERY_STATES, type LoggedMessage, type MessageFilter } from '../domain/message-log.ts';
import type { AcceptMessage, StoredMessageMeta } from '../domain/message.ts';
import { loadKeptRaw } from '../queue/redeliver.ts';
import { findLoggedShard, listLoggedAcrossShards, redeliverLogged } from '../services/message-admin.ts';
import type { KeySpace } from '../store/keys.ts';
import type { ShardDirectory } from '../store/shards.ts';
import { getLoggedMessage, logKeys } from '../store/message-log.ts';
import { readLogEvents } from '../store/message-log-events.ts';
import { isValidCursor } from '../store/message-log-query.ts';
import { duplicateConnection, waitForRedis } from '../store/redis.ts';

export interface MessagesApiOptions {
  readonly redis: Redis;
  /** The shards whose logs are read (one, unless MXHOOK_SHARDS says more). */
  readonly shards: ShardDirectory;
  readonly accept: AcceptMessage;
  /** Most /events clients at once (each holds a Redis connection); more get 503. Default 16. */
  readonly maxEventClients?: number;
  /**
   * What an app would receive for a kept message (parse/preview.ts, given by the app layer: the
   * API does not parse mail itself); absent: no /preview.
   */
  readonly preview?: (raw: Buffer, meta: StoredMessageMeta, hostname: string) => Promise<unknown>;
}

const decode = (header: string): string => {
  try {
    return libmime.decodeWords(header);
  } catch {
    return header;
  }
};

const listQuery = {
  type: 'object',
  properties: {
    hostname: { type: 'string', minLength: 1, maxLength: 253 },
    state: { type: 'string', enum: [...DELIVERY_STATES] },
    recipient: { type: 'string', minLength: 1, maxLength: 320 },
    sender: { type: 'string', minLength: 1, maxLength: 320 },
    subject: { type: 'string', minLength: 1, maxLength: 200 },
    since: { type: 'string', minLength: 1, maxLength: 40 },
    until: { type: 'string', minLength: 1, maxLength: 40 },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    cursor: { type: 'string', minLength: 1, maxLength: 100 },
  },
} as const;
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-z]{1,64}$' } } } as const;

class FieldProblem extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

function parseTime(field: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new FieldProblem(field, `${field} must be an ISO 8601 time or milliseconds since the epoch, got "${text}"`);
  return ms;
}

function view(message: LoggedMessage) {
  const { record } = message;
  return {
    id: record.id,
    received_at: new Date(record.receivedAt).toISOString(),
    client_ip: record.clientIp, helo: record.helo,
    envelope: { from: record.mailFrom, to: record.recipients },
    hostnames: Object.keys(record.recipients),
    from: decode(record.from ?? ''), subject: decode(record.subject ?? ''), message_id: record.messageIdHeader ?? null,
    size: record.size,
    attachments: message.parsed?.attachments ?? null, spam_score: message.parsed?.spamScore ?? null,
    auth: record.auth ?? null, replay_of: record.replayOf ?? null,
    deliveries: message.deliveries.map((d) => ({
      id: d.id, hostname: d.hostname, state: d.state, updated_at: new Date(d.updatedAt).toISOString(),
      next_attempt_at: d.nextAttemptAt ? new Date(d.nextAttemptAt).toISOString() : null, replayed_as: d.replayedAs ?? null,
      // Set when an address rule made the delivery: its own destination and recipients.
      ...(d.rule !== undefined ? { rule: d.rule, url: d.url ?? null, recipients: d.recipients ?? [], mailbox_hash: d.mailboxHash ?? null } : {}),
      attempts: d.attempts.map((a) => ({
        at: new Date(a.at).toISOString(), duration_ms: a.durationMs, outcome: a.outcome, status: a.status ?? null,
        error: a.error ?? null, response: a.response ?? null, bytes_sent: a.bytesSent,
      })),
    })),
  };
}

export async function messagesApi(app: FastifyInstance, opts: MessagesApiOptions): Promise<void> {
  const { redis } = opts;
  // The shard holding a logged message (asked by its record, in its own shard by id first).
  const shardOf = (id: string) => findLoggedShard(redis, opts.shards, id);
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err instanceof MxhookError) return sendMxhookError(reply, err);
    if (err instanceof FieldProblem) return reply.code(400).send({ errors: [{ field: err.field, message: err.message }] });
    if (err.validation) {
      return reply.code(400).send({
        errors: err.validation.map((v) => {
          const field = v.instancePath.replace(/^\//, '') || (v.params as { missingProperty?: string }).missingProperty || null;
          return { field, message: `${field ?? 'request'} ${v.message ?? 'is invalid'}` };
        }),
      });
    }
    return reply.code(err.statusCode && err.statusCode < 500 ? err.statusCode : 500).send({ errors: [{ field: null, message: err.statusCode && err.statusCode < 500 ? err.message : 'internal error' }] });
  });
  const notFound = (id: string) => ({ errors: [{ field: 'id', message: `no logged message ${id}` }] });

  app.get('/messages', { schema: { querystring: listQuery } }, async (req) => {
    const q = req.query as Record<string, string | undefined> & { limit: number };
    const hostname = q.hostname === undefined ? undefined : normalizeHostname(q.hostname) || undefined;
    if (q.hostname !== undefined && !hostname) throw new FieldProblem('hostname', `invalid hostname: ${q.hostname}`);
    if (q.cursor !== undefined && !isValidCursor(q.cursor)) throw new FieldProblem('cursor', 'cursor is not one this API handed out');
    const filter: MessageFilter = {
      hostname, state: q.state as MessageFilter['state'], recipient: q.recipient, sender: q.sender,
      subjectWords: q.subject?.split(/\s+/).filter(Boolean), since: parseTime('since', q.since), until: parseTime('until', q.until),
    };
    if (filter.since !== undefined && filter.until !== undefined && filter.since > filter.until) throw new FieldProblem('since', 'since is after until');
    const page = await listLoggedAcrossShards(redis, opts.shards, filter, { limit: q.limit, cursor: q.cursor, decode });
    return { result: page.result.map(view), next_cursor: page.nextCursor };
  });

  app.get('/messages/:id', { schema: { params: idParams } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const keys = await shardOf(id);
    const message = keys && await getLoggedMessage(redis, keys, id);
    return message ? view(message) : reply.code(404).send(notFound(id));
  });

  app.get('/messages/:id/raw', { schema: { params: idParams } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const keys = await shardOf(id);
    const message = keys && await getLoggedMessage(redis, keys, id);
    const kept = keys && await loadKeptRaw(redis, keys, id, message?.deliveries.map((d) => d.id) ?? []);
    if (!kept) return reply.code(404).send({ errors: [{ field: 'id', message: `the raw message of ${id} is no longer kept` }] });
    return reply.type('message/rfc822').header('content-disposition', `attachment; filename="${id}.eml"`).send(kept.raw);
  });

  if (opts.preview) {
    const preview = opts.preview;
    app.get('/messages/:id/preview', { schema: { params: idParams, summary: 'What the app receives for this message, with its route\'s settings: its parsed fields (stripped_* with strip_replies), attachments listed by name, type and size, payload_format and send_raw' } }, async (req, reply) => {
      const { id } = req.params as { id: string };
      const keys = await shardOf(id);
      const message = keys && await getLoggedMessage(redis, keys, id);
      const kept = keys && await loadKeptRaw(redis, keys, id, message?.deliveries.map((d) => d.id) ?? []);
      if (!kept) return reply.code(404).send({ errors: [{ field: 'id', message: `the raw message of ${id} is no longer kept` }] });
      const hostname = Object.keys(kept.meta.recipients)[0] ?? '';
      return preview(kept.raw, kept.meta, hostname);
    });
  }

  app.post('/messages/:id/redeliver', { schema: { params: idParams } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const keys = await shardOf(id);
    if (!keys) return reply.code(404).send(notFound(id));
    return reply.code(202).send({ redelivered: await redeliverLogged(redis, keys, opts.accept, id) });
  });

  let clients = 0;
  // Server-Sent Events tailing the log's stream, each client on its own connection (XREAD BLOCK),
  // closed when the client goes. `Last-Event-ID` resumes from an event still in the stream. With
  // several shards (several streams) the streams are read in turns instead (tailShardStreams).
  app.get('/events', async (req, reply) => {
    if (clients >= (opts.maxEventClients ?? 16)) return reply.code(503).send({ errors: [{ field: null, message: 'too many event clients' }] });
    const streams = await opts.shards.streams();
    const last = req.headers['last-event-id'];
    clients++;
    let tail: Redis | undefined;
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      clients--;
      tail?.disconnect();
    };
    if (streams.length === 1) {
      // Its own connection for the blocking read: no auto-pipelining, and ready before the first
      // XREAD (a fail-fast connection queues nothing while it connects: the read would fail at once).
      tail = duplicateConnection(redis, { enableAutoPipelining: false });
      tail.on('error', () => {});
      // Ready before `: connected`, so the first XREAD ("$": what comes next) is sent at once after it.
      try {
        await waitForRedis(tail, 10_000);
      } catch {
        close();
        return reply.code(503).send({ errors: [{ field: null, message: 'the event stream is unavailable: Redis did not answer' }] });
      }
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': connected\n\n');
    req.raw.on('close', close);
    res.on('close', close);
    try {
      if (tail) {
        const keys = streams[0]!;
        let from = typeof last === 'string' && /^\d+-\d+$/.test(last) ? last : '$';
        while (open) {
          const reply = await tail.xread('COUNT', 100, 'BLOCK', 15_000, 'STREAMS', logKeys(keys).events, from);
          if (!open) break;
          if (!reply) {
            res.write(': keep-alive\n\n');
            continue;
          }
          for (const [, entries] of reply) {
            for (const { id, event, json } of await readLogEvents(redis, keys, entries)) {
              from = id;
              res.write(`id: ${id}\nevent: ${event}\ndata: ${json}\n\n`);
            }
          }
        }
      } else {
        await tailShardStreams(redis, streams, typeof last === 'string' ? last : undefined, (text) => res.write(text), () => open);
      }
    } catch {
      // the connection was closed under a blocking read: the client went away
    } finally {
      close();
      res.end();
    }
  });
}

/** How often the streams of several shards are read (non-blocking: one connection serves them all). */
const SHARD_STREAMS_POLL_MS = 250;

/**
 * Several shards' streams to one SSE client: each read in turn from its own place, without
 * blocking (a blocking read holds a connection per stream). An event's id is every stream's
 * place, `~`-joined, so `Last-Event-ID` resumes all of them.
 */
async function tailShardStreams(redis: Redis, streams: readonly KeySpace[], last: string | undefined, write: (text: string) => void, isOpen: () => boolean): Promise<void> {
  const resumed = last?.split('~');
  const places = resumed?.length === streams.length && resumed.every((p) => /^\d+-\d+$/.test(p)) ? resumed
    : await Promise.all(streams.map(async (k) => (await redis.xrevrange(logKeys(k).events, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0'));
  let quietSince = Date.now();
  while (isOpen()) {
    let sent = false;
    for (let s = 0; s < streams.length && isOpen(); s++) {
      const reply = await redis.xread('COUNT', 100, 'STREAMS', logKeys(streams[s]!).events, places[s]!);
      for (const [, entries] of reply ?? []) {
        for (const { id, event, json } of await readLogEvents(redis, streams[s]!, entries)) {
          places[s] = id;
          sent = true;
          write(`id: ${places.join('~')}\nevent: ${event}\ndata: ${json}\n\n`);
        }
      }
    }
    if (sent) quietSince = Date.now();
    else if (Date.now() - quietSince > 15_000) {
      write(': keep-alive\n\n');
      quietSince = Date.now();
    }
    if (!sent) await new Promise((resolve) => setTimeout(resolve, SHARD_STREAMS_POLL_MS));
  }
}
