/** `mxhook events add|list|show|enable|disable|rm`: event-webhook destinations, through the same service as the API. */
import type { Config } from '../../config/schema.ts';
import { createEventDestinationAdmin } from '../../services/event-destination-admin.ts';
import { withRedis, type Output } from './with-redis.ts';

const EVENTS_USAGE = 'usage: mxhook events add URL [EVENT,EVENT...] | list | show ID | enable ID | disable ID | rm ID\n';

export function runEventsCommand(config: Config, operands: string[], output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const admin = createEventDestinationAdmin(redis, keys, { messageLog: config.messageLog });
    const [sub, arg, events] = operands;
    if (sub === 'list') {
      for (const d of await admin.list()) output.out(`${d.id}\t${d.url}\t${d.enabled ? 'enabled' : 'disabled'}\t${d.events.join(',')}\tbacklog ${d.backlog}\n`);
      return 0;
    }
    if (sub === 'add' && arg) {
      const { destination, secret } = await admin.create({ url: arg, ...(events ? { events: events.split(',').map((e) => e.trim()).filter(Boolean) } : {}) });
      output.out(`added ${destination.id} -> ${destination.url} (${destination.events.join(', ')})\nsigning secret (shown once): ${secret}\n`);
      return 0;
    }
    if (sub === 'show' && arg) {
      output.out(`${JSON.stringify(await admin.get(arg), null, 2)}\n`);
      return 0;
    }
    if ((sub === 'enable' || sub === 'disable') && arg) {
      const d = await admin.update(arg, { enabled: sub === 'enable' });
      output.out(`${d.id} ${d.enabled ? 'enabled' : 'disabled'}\n`);
      return 0;
    }
    if (sub === 'rm' && arg) {
      await admin.remove(arg);
      output.out(`removed ${arg}\n`);
      return 0;
    }
    output.err(EVENTS_USAGE);
    return 2;
  });
}
