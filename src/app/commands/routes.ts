/** `mxhook routes add|list|rm`, through the same route service as the API. */
import type { Config } from '../../config/schema.ts';
import { normalizeHostname } from '../../domain/address.ts';
import { inspectorTokenOf } from '../../domain/inspection.ts';
import { createInspector, inspectorUrl } from '../../routes/inspector.ts';
import { createSigningSecrets } from '../../routes/signing-secrets.ts';
import { createRouteAdmin } from '../../services/route-admin.ts';
import { localApiUrl } from '../roles/api.ts';
import { withRedis, type Output } from './with-redis.ts';

const ROUTES_USAGE = 'usage: mxhook routes add HOSTNAME URL [--raw] [--spam-check] | add HOSTNAME --inspect | list | rm HOSTNAME\n';

export function runRoutesCommand(config: Config, operands: string[], flags: ReadonlySet<string>, output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const routes = createRouteAdmin(redis, keys);
    const inspector = () => createInspector(redis, keys, createSigningSecrets(redis, keys));
    const [sub, hostname, url] = operands;
    if (sub === 'list') {
      for (const r of await routes.list()) output.out(`${r.hostname}\t${r.url}\t${r.send_raw ? 'raw' : 'parsed'}${r.spam_check ? '\tspam_check' : ''}\n`);
      return 0;
    }
    if (sub === 'add') {
      const inspect = flags.has('--inspect');
      if (inspect && url) {
        output.err('mxhook: --inspect makes the URL itself (the built-in inspector): give a hostname only\n');
        return 2;
      }
      // The inspector is on this server's API; the workers POST to it like to an app.
      const token = inspect && hostname ? await inspector().create(normalizeHostname(hostname)) : undefined;
      const target = token ? inspectorUrl(localApiUrl(config.apiHost, config.apiPort), token) : url;
      const { setting, secret } = await routes.create({ hostname, url: target, send_raw: flags.has('--raw'), spam_check: flags.has('--spam-check') });
      output.out(`added ${setting.hostname}${token ? ` -> the inspector (${setting.url})` : ''}\nsigning secret (shown once): ${secret.secret}\n`);
      if (token) output.out(`see what your app would get: mxhook inspect ${setting.hostname}\n`);
      return 0;
    }
    if (sub === 'rm' && hostname) {
      const token = inspectorTokenOf((await routes.get(hostname)).url);
      output.out(`removed ${await routes.remove(hostname)}\n`);
      if (token) await inspector().remove(token);
      return 0;
    }
    output.err(ROUTES_USAGE);
    return 2;
  });
}
