/** `mxhook routes add|list|rm`. */
import type { Config } from '../../config/schema.ts';
import { normalizeHostname } from '../../domain/address.ts';
import { inspectorTokenOf } from '../../domain/inspection.ts';
import { maskUrlCredentials } from '../../config/redact.ts';
import { validateParseSetting } from '../../domain/route.ts';
import { createInspector, inspectorUrl } from '../../routes/inspector.ts';
import { createRouteRegistry } from '../../routes/registry.ts';
import { createSigningSecrets } from '../../routes/signing-secrets.ts';
import { localApiUrl } from '../roles/api.ts';
import { withRedis, type Output } from './with-redis.ts';

const ROUTES_USAGE = 'usage: mxhook routes add HOSTNAME URL [--raw] [--spam-check] | add HOSTNAME --inspect | list | rm HOSTNAME\n';

export function runRoutesCommand(config: Config, operands: string[], flags: ReadonlySet<string>, output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const routes = createRouteRegistry(redis, keys);
    const secrets = createSigningSecrets(redis, keys);
    const [sub, hostname, url] = operands;
    if (sub === 'list') {
      for (const r of await routes.list()) {
        output.out(`${r.hostname}\t${maskUrlCredentials(r.url)}\t${r.send_raw ? 'raw' : 'parsed'}${r.spam_check ? '\tspam_check' : ''}\n`);
      }
      return 0;
    }
    if (sub === 'add') {
      const inspect = flags.has('--inspect');
      if (inspect && url) {
        output.err('mxhook: --inspect makes the URL itself (the built-in inspector): give a hostname only\n');
        return 2;
      }
      // The inspector is on this server's API; the workers POST to it like to an app.
      const token = inspect && hostname ? await createInspector(redis, keys, secrets).create(normalizeHostname(hostname)) : undefined;
      const target = token ? inspectorUrl(localApiUrl(config.apiHost, config.apiPort), token) : url;
      const checked = validateParseSetting({ hostname, url: target, send_raw: flags.has('--raw'), spam_check: flags.has('--spam-check') });
      if (checked.errors) {
        output.err(checked.errors.map((e) => `mxhook: ${e.field ?? 'route'}: ${e.message}\n`).join(''));
        return 2;
      }
      if (!(await routes.create(checked.setting))) {
        output.err(`mxhook: a route for ${checked.setting.hostname} already exists (rm it first)\n`);
        return 1;
      }
      const secret = await secrets.add(checked.setting.hostname);
      output.out(`added ${checked.setting.hostname}${token ? ` -> the inspector (${checked.setting.url})` : ''}\nsigning secret (shown once): ${secret.secret}\n`);
      if (token) output.out(`see what your app would get: mxhook inspect ${checked.setting.hostname}\n`);
      return 0;
    }
    if (sub === 'rm' && hostname) {
      const normalized = normalizeHostname(hostname);
      const token = inspectorTokenOf((await routes.get(normalized))?.url ?? '');
      if (!(await routes.remove(normalized))) {
        output.err(`mxhook: no route for ${hostname}\n`);
        return 1;
      }
      await secrets.removeAll(normalized);
      if (token) await createInspector(redis, keys, secrets).remove(token);
      output.out(`removed ${normalized}\n`);
      return 0;
    }
    output.err(ROUTES_USAGE);
    return 2;
  });
}

