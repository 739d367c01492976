/**
 * The message log's event stream (`{prefix}:log:events`): what its readers (the SSE endpoint, the
 * event webhook's dispatcher) get of its entries, and the events that belong to no record. An
 * entry is `e` = an event's JSON, `c` = a delivery's event, compact (domain/message-log.ts
 * compactDeliveryEvent), or `a` = a message id, standing for that message's accepted event.
 */
import type { ChainableCommander } from 'ioredis';
import type { Redis } from './redis-client.ts';
import { expandDeliveryEvent, logEvent, type LoggedMessage, type MessageRecord } from '../domain/message-log.ts';
import type { DeliveryTarget } from '../domain/message.ts';
import type { KeySpace } from './keys.ts';
import { decodeRecord, logKeys } from './message-log.ts';

/**
 * The accepted event of a logged message, as readers get it: the stream holds only a reference to
 * the record (confirmLogged, or a worker's write that gets there first), and readLogEvents builds
 * this from it.
 */
export function acceptedEvent(record: MessageRecord, targets?: readonly DeliveryTarget[]): string {
  const hostnames = Object.keys(record.recipients);
  return JSON.stringify(logEvent('message.accepted', record.receivedAt, record.id, {
    hostnames, size: record.size, from: record.from ?? null, subject: record.subject ?? null,
    // The envelope, for the event webhook's `received` (the SSE stream carries it too): per
    // delivery, as address rules may split one hostname's recipients over several.
    mail_from: record.mailFrom, recipients: record.recipients,
    deliveries: (targets ?? hostnames.map((hostname) => ({ hostname, recipients: record.recipients[hostname] ?? [] }) as DeliveryTarget)).map((t, i) => ({
      id: `${record.id}.${i + 1}`, hostname: t.hostname, recipients: t.recipients,
      ...(t.rule !== undefined ? { rule: t.rule } : {}), ...(t.mailboxHash !== undefined ? { mailbox_hash: t.mailboxHash } : {}),
    })),
    ...(record.replayOf ? { replay_of: record.replayOf } : {}),
  }));
}

/** One event of the log's stream, as its readers (SSE, the event webhook) get it. */
export interface StreamedLogEvent {
  /** The stream entry's id. */
  readonly id: string;
  readonly event: string;
  /** The event's JSON. */
  readonly json: string;
}

/**
 * The log stream's entries as events. An entry is `e` = the event's JSON, `c` = a delivery's
 * event, compact (compactDeliveryEvent), or `a` = a message id: that message's accepted event,
 * built here from its record (written once, at the accept). A record gone meanwhile (dropped by
 * the cap) yields the event's stable fields only.
 */
export async function readLogEvents(redis: Redis, keys: KeySpace, entries: readonly [string, string[]][]): Promise<StreamedLogEvent[]> {
  const refs = [...new Set(entries.filter(([, f]) => f[0] === 'a').map(([, f]) => f[1] ?? ''))];
  const records = new Map<string, LoggedMessage | undefined>();
  if (refs.length) {
    const pipe = redis.pipeline();
    for (const id of refs) pipe.hgetall(logKeys(keys).record(id));
    const replies = (await pipe.exec()) ?? [];
    refs.forEach((id, i) => records.set(id, replies[i]?.[0] ? undefined : decodeRecord(replies[i]?.[1] as Record<string, string>)));
  }
  return entries.map(([id, fields]) => {
    if (fields[0] === 'c') {
      const expanded = expandDeliveryEvent(fields[1] ?? '');
      if (expanded) return { id, ...expanded };
    }
    if (fields[0] !== 'a') {
      const json = fields[1] ?? '{}';
      let event = 'message';
      try {
        event = (JSON.parse(json) as { event?: string }).event ?? event;
      } catch { /* an entry not of ours: passed on as it is */ }
      return { id, event, json };
    }
    const messageId = fields[1] ?? '';
    const logged = records.get(messageId);
    const json = logged ? acceptedEvent(logged.record, logged.deliveries.map((d) => ({
      hostname: d.hostname, recipients: d.recipients ?? logged.record.recipients[d.hostname] ?? [], rule: d.rule, mailboxHash: d.mailboxHash,
    }))) : JSON.stringify(logEvent('message.accepted', Number(id.split('-')[0]), messageId));
    return { id, event: 'message.accepted', json };
  });
}

/**
 * Publishes an event that belongs to no record (a route's circuit opening or closing, SMTP
 * refusals of a minute) on the log's stream, where the event webhook reads it.
 */
export function logStreamEvent(pipe: ChainableCommander, keys: KeySpace, event: Record<string, unknown>, maxEvents = 100_000): void {
  pipe.eval(`pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1]) return 1`, 1, logKeys(keys).events, JSON.stringify(event), maxEvents);
}
