/** `mxhook dead list|show|replay|purge`, through the same dead-letter service as the API. */
import type { Config } from '../../config/schema.ts';
import type { AcceptMessage } from '../../domain/message.ts';
import { createShardQueues } from '../../queue/delivery-queue.ts';
import { createShardedAccept } from '../../queue/sharded-accept.ts';
import { createDeadLetterAdmin, MAX_LIST_LIMIT } from '../../services/dead-letter-admin.ts';
import { withRedis, type Output } from './with-redis.ts';
import { messageLogOptions } from '../message-log-options.ts';

const DEAD_USAGE = `usage: mxhook dead list [HOSTNAME]
       mxhook dead show ID
       mxhook dead replay ID | mxhook dead replay --route HOSTNAME
       mxhook dead purge ID  | mxhook dead purge --route HOSTNAME
`;

export function runDeadCommand(config: Config, operands: string[], output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys, shards) => {
    // The delivery queues are opened only by a replay (ready before it: BullMQ keeps a failed
    // first connection's error for good).
    const queues = createShardQueues(redis, shards);
    let sharded: Promise<AcceptMessage> | undefined;
    const accept: AcceptMessage = async (message) => {
      sharded ??= createShardedAccept(queues, redis, shards.shards, () => ({ messageTtlMs: config.messageTtl, messageLog: messageLogOptions(config) }));
      return (await sharded)(message);
    };
    const dead = createDeadLetterAdmin({ redis, keys, accept, shards });
    const [sub, first, second] = operands;
    const route = first === '--route' ? second : undefined;
    try {
      if (sub === 'list') {
        const { total, result } = await dead.list({ hostname: first, limit: MAX_LIST_LIMIT });
        for (const d of result) output.out(`${d.deliveryId}\t${d.hostname}\t${d.diedAt}\t${d.reason}\n`);
        output.out(`${total} dead letter(s)\n`);
        return 0;
      }
      if (sub === 'show' && first) {
        output.out(`${JSON.stringify(await dead.show(first), null, 2)}\n`);
        return 0;
      }
      if (sub === 'replay' && (route || (first && first !== '--route'))) {
        const replayed = route ? await dead.replayRoute(route) : [await dead.replay(first!)];
        for (const r of replayed) output.out(`replayed ${r.dead_letter} as ${r.delivery_id}\n`);
        output.out(`replayed ${replayed.length}\n`);
        return 0;
      }
      if (sub === 'purge' && (route || (first && first !== '--route'))) {
        const purged = route ? await dead.purgeRoute(route) : (await dead.purge(first!), 1);
        output.out(`purged ${purged}\n`);
        return 0;
      }
      output.err(DEAD_USAGE);
      return 2;
    } finally {
      await queues.close();
    }
  });
}
