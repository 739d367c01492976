/** `mxhook routes add|list|rm`, through the same route service as the API. */
import type { Config } from '../../config/schema.ts';
import { createRouteAdmin } from '../../services/route-admin.ts';
import { withRedis, type Output } from './with-redis.ts';

const ROUTES_USAGE = 'usage: mxhook routes add HOSTNAME URL [--raw] [--spam-check] | list | rm HOSTNAME\n';

export function runRoutesCommand(config: Config, operands: string[], flags: ReadonlySet<string>, output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const routes = createRouteAdmin(redis, keys);
    const [sub, hostname, url] = operands;
    if (sub === 'list') {
      for (const r of await routes.list()) output.out(`${r.hostname}\t${r.url}\t${r.send_raw ? 'raw' : 'parsed'}${r.spam_check ? '\tspam_check' : ''}\n`);
      return 0;
    }
    if (sub === 'add') {
      const { setting, secret } = await routes.create({ hostname, url, send_raw: flags.has('--raw'), spam_check: flags.has('--spam-check') });
      output.out(`added ${setting.hostname}\nsigning secret (shown once): ${secret.secret}\n`);
      return 0;
    }
    if (sub === 'rm' && hostname) {
      output.out(`removed ${await routes.remove(hostname)}\n`);
      return 0;
    }
    output.err(ROUTES_USAGE);
    return 2;
  });
}
