/** `mxhook dead list|show|replay|purge`: the dead-letter store from the command line. */
import type { Config } from '../../config/schema.ts';
import { normalizeHostname } from '../../domain/address.ts';
import { createAcceptMessage } from '../../queue/accept.ts';
import { createDeliveryQueue } from '../../queue/delivery-queue.ts';
import { replayDeadLetter } from '../../queue/replay.ts';
import { deadLetterIds, deleteDeadLetter, getDeadLetter, listDeadLetters } from '../../store/dead-letters.ts';
import { withRedis, type Output } from './with-redis.ts';

const DEAD_USAGE = `usage: mxhook dead list [HOSTNAME]
       mxhook dead show ID
       mxhook dead replay ID | mxhook dead replay --route HOSTNAME
       mxhook dead purge ID  | mxhook dead purge --route HOSTNAME
`;

export function runDeadCommand(config: Config, operands: string[], output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const [sub, first, second] = operands;
    const routeMode = first === '--route';
    const target = routeMode ? normalizeHostname(second ?? '') : first;
    if (sub === 'list') {
      const { total, result } = await listDeadLetters(redis, keys, { hostname: first ? normalizeHostname(first) : undefined, limit: 500 });
      for (const d of result) output.out(`${d.deliveryId}\t${d.hostname}\t${d.diedAt}\t${d.reason}\n`);
      output.out(`${total} dead letter(s)\n`);
      return 0;
    }
    if (sub === 'show' && first) {
      const letter = await getDeadLetter(redis, keys, first);
      if (!letter) return notFound(output, first);
      output.out(`${JSON.stringify(letter, null, 2)}\n`);
      return 0;
    }
    if ((sub === 'replay' || sub === 'purge') && target) {
      const ids = routeMode ? await deadLetterIds(redis, keys, target) : [target];
      if (sub === 'purge') {
        let purged = 0;
        for (const id of ids) if (await deleteDeadLetter(redis, keys, id)) purged++;
        if (!routeMode && !purged) return notFound(output, target);
        output.out(`purged ${purged}\n`);
        return 0;
      }
      const queue = createDeliveryQueue(redis, keys);
      try {
        await queue.waitUntilReady();
        const accept = createAcceptMessage(queue, redis, keys, { messageTtlMs: config.messageTtl });
        let replayed = 0;
        for (const id of ids) {
          const deliveryId = await replayDeadLetter(redis, keys, accept, id);
          if (deliveryId) {
            replayed++;
            output.out(`replayed ${id} as ${deliveryId}\n`);
          }
        }
        if (!routeMode && !replayed) return notFound(output, target);
        output.out(`replayed ${replayed}\n`);
        return 0;
      } finally {
        await queue.close();
      }
    }
    output.err(DEAD_USAGE);
    return 2;
  });
}

function notFound(output: Output, id: string): number {
  output.err(`mxhook: no dead letter ${id}\n`);
  return 1;
}
