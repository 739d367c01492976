/** `mxhook messages list|show|raw|redeliver`: the message log from the command line. */
import type { Config } from '../../config/schema.ts';
import { normalizeHostname } from '../../domain/address.ts';
import { isDeliveryState } from '../../domain/message-log.ts';
import { createShardQueues } from '../../queue/delivery-queue.ts';
import { createShardedAccept } from '../../queue/sharded-accept.ts';
import { loadKeptRaw } from '../../queue/redeliver.ts';
import { findLoggedShard, listLoggedAcrossShards, redeliverLogged } from '../../services/message-admin.ts';
import { getLoggedMessage } from '../../store/message-log.ts';
import { isValidCursor } from '../../store/message-log-query.ts';
import { MxhookError } from '../../domain/errors.ts';
import { withRedis, type Output } from './with-redis.ts';
import { messageLogOptions } from '../message-log-options.ts';

const MESSAGES_USAGE = `usage: mxhook messages list [HOSTNAME] [STATE] [--limit N] [--cursor C]
       mxhook messages show ID
       mxhook messages raw ID        (the exact bytes, on stdout)
       mxhook messages redeliver ID
`;

export function runMessagesCommand(config: Config, operands: string[], output: Output & { raw?: (bytes: Buffer) => void }): Promise<number> {
  return withRedis(config, output, async (redis, _shared, shards) => {
    const [sub, first, second] = operands.filter((a, i) => !a.startsWith('--') && !operands[i - 1]?.startsWith('--'));
    if (sub === 'list') {
      const flag = (name: string) => { const at = operands.indexOf(name); return at < 0 ? undefined : operands[at + 1] ?? ''; };
      const limitText = flag('--limit');
      const limit = limitText === undefined ? 100 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
        output.err('mxhook: --limit must be a whole number from 1 to 500\n');
        return 2;
      }
      const cursor = flag('--cursor');
      if (cursor !== undefined && !isValidCursor(cursor)) {
        output.err('mxhook: --cursor is not one a previous page printed\n');
        return 2;
      }
      const state = [first, second].find((a) => a !== undefined && isDeliveryState(a));
      const host = [first, second].find((a) => a !== undefined && !isDeliveryState(a));
      const filter = { hostname: host ? normalizeHostname(host) : undefined, state: state as never };
      const page = await listLoggedAcrossShards(redis, shards, filter, { limit, cursor });
      for (const m of page.result) {
        output.out(`${m.record.id}\t${new Date(m.record.receivedAt).toISOString()}\t${m.deliveries.map((d) => `${d.hostname}:${d.state}`).join(',')}\t${m.record.subject ?? ''}\n`);
      }
      output.out(`${page.result.length} message(s)\n`);
      if (page.nextCursor) output.out(`more: mxhook messages list${host ? ` ${host}` : ''}${state ? ` ${state}` : ''} --limit ${limit} --cursor ${page.nextCursor}\n`);
      return 0;
    }
    if (!first || !['show', 'raw', 'redeliver'].includes(sub ?? '')) {
      output.err(MESSAGES_USAGE);
      return 2;
    }
    const keys = await findLoggedShard(redis, shards, first);
    if (!keys) return notFound(output, first);
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
    const queues = createShardQueues(redis, shards);
    try {
      const accept = await createShardedAccept(queues, redis, shards.shards, () => ({ messageTtlMs: config.messageTtl, messageLog: messageLogOptions(config) }));
      for (const r of await redeliverLogged(redis, keys, accept, first)) output.out(`redelivered ${r.delivery_id} as ${r.new_delivery_id}\n`);
      return 0;
    } catch (err) {
      if (err instanceof MxhookError && err.code === 'NOT_FOUND') return notFound(output, first);
      throw err;
    } finally {
      await queues.close();
    }
  });
}

function notFound(output: Output, id: string): number {
  output.err(`mxhook: no logged message ${id}, or its raw message is no longer kept\n`);
  return 1;
}
