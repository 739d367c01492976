/** `mxhook messages list|show|raw|redeliver`: the message log from the command line. */
import type { Config } from '../../config/schema.ts';
import { normalizeHostname } from '../../domain/address.ts';
import { isDeliveryState } from '../../domain/message-log.ts';
import { createAcceptMessage } from '../../queue/accept.ts';
import { createDeliveryQueue } from '../../queue/delivery-queue.ts';
import { loadKeptRaw, redeliver } from '../../queue/redeliver.ts';
import { getLoggedMessage, logDeliveryState } from '../../store/message-log.ts';
import { listLoggedMessages } from '../../store/message-log-query.ts';
import { withRedis, type Output } from './with-redis.ts';
import { messageLogOptions } from '../message-log-options.ts';

const MESSAGES_USAGE = `usage: mxhook messages list [HOSTNAME] [STATE]
       mxhook messages show ID
       mxhook messages raw ID        (the exact bytes, on stdout)
       mxhook messages redeliver ID
`;

export function runMessagesCommand(config: Config, operands: string[], output: Output & { raw?: (bytes: Buffer) => void }): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const [sub, first, second] = operands;
    if (sub === 'list') {
      const state = [first, second].find((a) => a !== undefined && isDeliveryState(a));
      const host = [first, second].find((a) => a !== undefined && !isDeliveryState(a));
      const page = await listLoggedMessages(redis, keys, { hostname: host ? normalizeHostname(host) : undefined, state: state as never }, { limit: 100 });
      for (const m of page.result) {
        output.out(`${m.record.id}\t${new Date(m.record.receivedAt).toISOString()}\t${m.deliveries.map((d) => `${d.hostname}:${d.state}`).join(',')}\t${m.record.subject ?? ''}\n`);
      }
      output.out(`${page.result.length} message(s)${page.nextCursor ? ' (newest 100 shown)' : ''}\n`);
      return 0;
    }
    if (!first || !['show', 'raw', 'redeliver'].includes(sub ?? '')) {
      output.err(MESSAGES_USAGE);
      return 2;
    }
    const message = await getLoggedMessage(redis, keys, first);
    if (sub === 'show') {
      if (!message) return notFound(output, first);
      output.out(`${JSON.stringify(message, null, 2)}\n`);
      return 0;
    }
    if (sub === 'raw') {
      const kept = await loadKeptRaw(redis, keys, first, message?.deliveries.map((d) => d.id) ?? []);
      if (!kept) return notFound(output, first);
      (output.raw ?? ((b: Buffer) => process.stdout.write(b)))(kept.raw);
      return 0;
    }
    if (!message) return notFound(output, first);
    const queue = createDeliveryQueue(redis, keys);
    try {
      const accept = createAcceptMessage(queue, redis, keys, { messageTtlMs: config.messageTtl, messageLog: messageLogOptions(config) });
      for (const d of message.deliveries) {
        const next = await redeliver(redis, keys, accept, { messageId: first, deliveryId: d.id, hostname: d.hostname });
        if (!next) return notFound(output, first);
        const multi = redis.multi();
        logDeliveryState(multi, keys, d.id, d.hostname, message.record.receivedAt, { kind: 'replayed', replayedAs: next }, Date.now(), undefined, { via: 'redeliver' });
        await multi.exec();
        output.out(`redelivered ${d.id} as ${next}\n`);
      }
      return 0;
    } finally {
      await queue.close();
    }
  });
}

function notFound(output: Output, id: string): number {
  output.err(`mxhook: no logged message ${id}, or its raw message is no longer kept\n`);
  return 1;
}
