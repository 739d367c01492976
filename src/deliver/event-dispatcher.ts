/**
 * Cuts event-webhook batches from the message log's stream: reads it (XREAD, on a connection of its
 * own) from a cursor kept in Redis, turns each log event into webhook events
 * (domain/event-webhook.ts) with the route's custom_args, gathers them per destination and, once a
 * destination has 500 or the oldest has waited 1 s, enqueues every destination's batch as a job on
 * the batches' queue and moves the cursor. One process at a time does this (a lock); it also
 * publishes each past minute's SMTP refusals as `smtp.refused` log events. Nothing here waits on
 * a destination: the sender (event-sender.ts) does the POSTs.
 */
import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from '../store/redis-client.ts';
import type { Logger } from 'pino';
import { BATCH_MAX_EVENTS, BATCH_WAIT_MS, webhookEventsOf, type EventDestination, type WebhookEvent } from '../domain/event-webhook.ts';
import { EVENT_JOB_NAME, EVENT_JOB_OPTIONS, type EventBatchJob } from '../queue/event-queue.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import { addToBacklog, eventKeys, forgetBacklogEntry, listWithSecrets } from '../store/event-destinations.ts';
import type { KeySpace } from '../store/keys.ts';
import { logKeys } from '../store/message-log.ts';
import { readLogEvents } from '../store/message-log-events.ts';
import { publishRefusalMinute } from '../store/message-log-retention.ts';

export interface EventDispatcherOptions {
  readonly redis: Redis;
  /** For the blocking XREAD only. */
  readonly stream: Redis;
  readonly queue: Queue<EventBatchJob>;
  /** Where destinations, their backlogs and the refusal counts are (the shared key space). */
  readonly keys: KeySpace;
  /**
   * The shard whose stream this dispatcher reads (its lock and cursor are kept there too); one
   * dispatcher runs per shard. Default: `keys`. Refusals are published by the one reading `keys`'s own.
   */
  readonly streamKeys?: KeySpace;
  readonly routes: RouteRegistry;
  /** Most events waiting per destination; past it the oldest batches are dropped. */
  readonly backlogCap: number;
  readonly logger: Logger;
  /** The dispatcher lock's lifetime, ms (renewed at every read). Default 10 s. */
  readonly lockMs?: number;
}

const LOCK_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

/** Stream ids `ms-seq` in order. */
export function streamIdBefore(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am < bm || (am === bm && as < bs);
}

/** Refusals of a minute are published this long after it ended (the SMTP side flushes its counts every few seconds). */
const REFUSAL_DELAY_MS = 10_000;
/** How far back unpublished minutes are looked for: the overview's longest window, within the counts' lifetime. */
const REFUSAL_LOOKBACK_MINUTES = 120;

export function startEventDispatcher(options: EventDispatcherOptions): { stop(): Promise<void> } {
  const { redis, stream, queue, keys, logger } = options;
  const streamKeys = options.streamKeys ?? keys;
  const readsShared = streamKeys.prefix === keys.prefix;
  const k = eventKeys(streamKeys);
  const events = logKeys(streamKeys).events;
  const lockMs = options.lockMs ?? 10_000;
  const token = `${process.pid}-${randomBytes(4).toString('hex')}`;
  let running = true;
  let wake: (() => void) | undefined;
  // Not begun once stopping: a stop that came between the loop's check and the pause would
  // otherwise wait the pause out.
  const pause = (ms: number) => new Promise<void>((resolve) => {
    if (!running) return resolve();
    const timer = setTimeout(resolve, ms);
    wake = () => { clearTimeout(timer); resolve(); };
  });

  let holding = false;
  let readFrom = '';
  let pending = new Map<string, WebhookEvent[]>();
  let windowEnds = 0;
  let lastRead = '';
  // The last minute whose refusals were published (by this process or, per a marker, another).
  let refusalSlotDone = 0;

  const flush = async (destinations: Map<string, EventDestination>) => {
    for (const [destinationId, events] of pending) {
      if (!events.length || !destinations.has(destinationId)) continue;
      const jobId = `evb_${randomBytes(8).toString('hex')}`;
      // Counted in the backlog first: a sender that picks the job up at once finds it there.
      const dropped = await addToBacklog(redis, keys, destinationId, jobId, events.length, options.backlogCap);
      try {
        await queue.add(EVENT_JOB_NAME, { destinationId, events, createdAt: Date.now() }, { ...EVENT_JOB_OPTIONS, jobId });
      } catch (err) {
        // Not queued: out of the backlog again (uncounted); the cursor stays, so it is cut again.
        await forgetBacklogEntry(redis, keys, destinationId, jobId, events.length).catch(() => {});
        throw err;
      }
      if (dropped.length) {
        await Promise.all(dropped.map((id) => queue.remove(id).catch(() => 0)));
        logger.warn({ event: 'event_backlog_dropped', destination: destinationId, batches: dropped.length, cap: options.backlogCap });
      }
    }
    pending = new Map();
    windowEnds = 0;
    if (lastRead) await redis.set(k.cursor, lastRead);
  };

  const customArgsCache = new Map<string, Readonly<Record<string, string>> | undefined>();
  const customArgsOf = async (hostname: string | null) => {
    if (!hostname) return undefined;
    if (!customArgsCache.has(hostname)) customArgsCache.set(hostname, (await options.routes.get(hostname).catch(() => undefined))?.custom_args);
    return customArgsCache.get(hostname);
  };

  // Every finished minute not yet published, up to REFUSAL_LOOKBACK_MINUTES back: after a restart, a
  // lock takeover or a slow turn the minutes in between are published too (each once, by its marker).
  // A minute that failed is tried again next turn; the batches go on meanwhile.
  let refusalFailedSlot = 0;
  const publishRefusals = async () => {
    const latest = Math.floor((Date.now() - REFUSAL_DELAY_MS) / 60_000) - 1;
    for (let slot = Math.max(refusalSlotDone + 1, Math.floor(Date.now() / 60_000) - REFUSAL_LOOKBACK_MINUTES); slot <= latest && running; slot++) {
      try {
        await publishRefusalMinute(redis, keys, slot);
      } catch (err) {
        if (slot !== refusalFailedSlot) logger.warn({ event: 'event_refusals_publish_failed', minute: slot * 60, err: String(err) });
        refusalFailedSlot = slot;
        return;
      }
      refusalSlotDone = slot;
    }
  };

  const loop = async () => {
    while (running) {
      try {
        const held = (await redis.eval(LOCK_SCRIPT, 1, k.lock, token, lockMs)) === 1;
        if (!held) {
          holding = false;
          await pause(Math.min(1000, lockMs / 2));
          continue;
        }
        if (!holding) {
          // Newly the dispatcher: go on from where the last one stopped.
          holding = true;
          pending = new Map();
          windowEnds = 0;
          lastRead = '';
          const saved = await redis.get(k.cursor);
          const newest = saved ? undefined : await redis.xrevrange(events, '+', '-', 'COUNT', 1);
          readFrom = saved ?? newest?.[0]?.[0] ?? '0-0';
        }
        if (readsShared) await publishRefusals();
        // The stream's end, read before the destinations: one made after this reading gets
        // everything logged after it (its `since`) from here.
        const newest = pending.size ? undefined : (await redis.xrevrange(events, '+', '-', 'COUNT', 1))[0]?.[0];
        if (!pending.size && !(await listWithSecrets(redis, keys)).some((d) => d.enabled)) {
          // Nobody to tell: follow the stream's end instead of reading (and parsing) every event.
          if (newest && newest !== readFrom) {
            readFrom = newest;
            await redis.set(k.cursor, newest);
          }
          await pause(BATCH_WAIT_MS);
          continue;
        }
        const block = windowEnds ? Math.max(1, windowEnds - Date.now()) : BATCH_WAIT_MS;
        const reply = await stream.xread('COUNT', BATCH_MAX_EVENTS, 'BLOCK', block, 'STREAMS', events, readFrom);
        // Read after the events: a destination made before an event was logged is in the list.
        const destinations = new Map((await listWithSecrets(redis, keys)).filter((d) => d.enabled).map((d) => [d.id, d]));
        customArgsCache.clear();
        for (const [, entries] of reply ?? []) {
          for (const { id, json } of await readLogEvents(redis, streamKeys, entries)) {
            readFrom = id;
            lastRead = id;
            let log: Record<string, unknown>;
            try {
              log = JSON.parse(json) as Record<string, unknown>;
            } catch {
              continue;
            }
            let full = false;
            for (const event of webhookEventsOf(log, id)) {
              const args = await customArgsOf(event.hostname);
              const withArgs: WebhookEvent = args ? { ...event, custom_args: args } : event;
              for (const d of destinations.values()) {
                // Stream ids are times (ms-seq) in every shard's stream alike, so a destination's
                // `since` (read from one of them) holds for all.
                if (streamIdBefore(id, d.since) || !d.events.includes(event.event)) continue;
                const list = pending.get(d.id) ?? [];
                list.push(withArgs);
                pending.set(d.id, list);
                if (!windowEnds) windowEnds = Date.now() + BATCH_WAIT_MS;
                if (list.length >= BATCH_MAX_EVENTS) full = true;
              }
            }
            if (full) await flush(destinations);
          }
        }
        if (windowEnds && Date.now() >= windowEnds) await flush(destinations);
        else if (!windowEnds && lastRead) {
          // Nothing waiting: the cursor may move past events no destination wanted.
          await redis.set(k.cursor, lastRead);
          lastRead = '';
        }
      } catch (err) {
        if (!running) break;
        logger.warn({ event: 'event_dispatch_failed', err: String(err) });
        // Read again from the saved cursor (at least once: a batch may be cut twice).
        holding = false;
        await pause(1000);
      }
    }
  };
  const done = loop();
  return {
    async stop() {
      running = false;
      wake?.();
      stream.disconnect();
      await done;
      await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1`, 1, k.lock, token).catch(() => {});
    },
  };
}
