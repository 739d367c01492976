/** `mxhook routes add|list|rm`, through the same route service as the API. */
import type { Config } from '../../config/schema.ts';
import { normalizeHostname } from '../../domain/address.ts';
import { inspectorTokenOf } from '../../domain/inspection.ts';
import { createInspector, inspectorUrl } from '../../routes/inspector.ts';
import { createSigningSecrets } from '../../routes/signing-secrets.ts';
import { createRouteAdmin, type RouteAdmin } from '../../services/route-admin.ts';
import { localApiUrl } from '../roles/api.ts';
import { withRedis, type Output } from './with-redis.ts';

const ROUTES_USAGE = 'usage: mxhook routes add HOSTNAME URL [--raw] [--spam-check] [--json] | add HOSTNAME --inspect | list | rm HOSTNAME\n'
  + '       mxhook routes rules HOSTNAME | rule add HOSTNAME MATCH URL | rule add HOSTNAME MATCH --drop | rule rm HOSTNAME MATCH\n';

export function runRoutesCommand(config: Config, operands: string[], flags: ReadonlySet<string>, output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const routes = createRouteAdmin(redis, keys);
    const inspector = () => createInspector(redis, keys, createSigningSecrets(redis, keys));
    const [sub, hostname, url] = operands;
    if (sub === 'list') {
      for (const r of await routes.list()) {
        const rules = r.address_rules?.length ? `\t${r.address_rules.length} address rule${r.address_rules.length === 1 ? '' : 's'}` : '';
        output.out(`${r.hostname}\t${r.url}\t${r.send_raw ? 'raw' : 'parsed'}${r.payload_format === 'json' ? '\tjson' : ''}${r.spam_check ? '\tspam_check' : ''}${rules}\n`);
      }
      return 0;
    }
    if (sub === 'rules' && hostname) {
      const rules = (await routes.get(hostname)).address_rules ?? [];
      rules.forEach((r, i) => output.out(`${i + 1}\t${r.match}\t${r.action}${r.url ? `\t${r.url}` : ''}\n`));
      if (!rules.length) output.out(`no address rules: all of ${normalizeHostname(hostname)} goes to its url\n`);
      return 0;
    }
    if (sub === 'rule') return runRuleCommand(routes, operands.slice(1), flags, output);
    if (sub === 'add') {
      const inspect = flags.has('--inspect');
      if (inspect && url) {
        output.err('mxhook: --inspect makes the URL itself (the built-in inspector): give a hostname only\n');
        return 2;
      }
      // The inspector is on this server's API; the workers POST to it like to an app.
      const token = inspect && hostname ? await inspector().create(normalizeHostname(hostname)) : undefined;
      const target = token ? inspectorUrl(localApiUrl(config.apiHost, config.apiPort), token) : url;
      const { setting, secret } = await routes.create({
        hostname, url: target, send_raw: flags.has('--raw'), spam_check: flags.has('--spam-check'), ...(flags.has('--json') ? { payload_format: 'json' } : {}),
      });
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

/** `rule add HOSTNAME MATCH URL|--drop` (appended: it is tried after the others) and `rule rm HOSTNAME MATCH`. */
async function runRuleCommand(routes: RouteAdmin, operands: string[], flags: ReadonlySet<string>, output: Output): Promise<number> {
  const [action, hostname, match, url] = operands;
  if (!hostname || !match || (action !== 'add' && action !== 'rm')) {
    output.err(ROUTES_USAGE);
    return 2;
  }
  const rules = (await routes.get(hostname)).address_rules ?? [];
  if (action === 'add') {
    const drop = flags.has('--drop');
    if (drop === Boolean(url)) {
      output.err('mxhook: give a rule either a URL or --drop\n');
      return 2;
    }
    const rule = drop ? { match, action: 'drop' } : { match, url, action: 'deliver' };
    const updated = await routes.update(hostname, { address_rules: [...rules, rule] });
    output.out(`added rule ${updated.address_rules!.length} of ${updated.hostname}: ${match} ${drop ? 'drop' : `-> ${updated.address_rules!.at(-1)!.url}`}\n`);
    return 0;
  }
  const kept = rules.filter((r) => r.match !== match.toLowerCase());
  if (kept.length === rules.length) {
    output.err(`mxhook: ${normalizeHostname(hostname)} has no address rule ${match}\n`);
    return 1;
  }
  await routes.update(hostname, { address_rules: kept });
  output.out(`removed rule ${match} of ${normalizeHostname(hostname)}\n`);
  return 0;
}
