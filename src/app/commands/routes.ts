/** `mxhook routes add|update|list|rm|rules|rule`, through the same route service as the API. */
import type { Config } from '../../config/schema.ts';
import { normalizeHostname } from '../../domain/address.ts';
import { inspectorTokenOf } from '../../domain/inspection.ts';
import { createInspector, inspectorUrl } from '../../routes/inspector.ts';
import { createSigningSecrets } from '../../routes/signing-secrets.ts';
import type { ParseSetting } from '../../domain/route.ts';
import { createRouteAdmin, type RouteAdmin } from '../../services/route-admin.ts';
import { localApiUrl } from '../api-url.ts';
import { withRedis, type Output } from './with-redis.ts';

const ROUTES_USAGE = 'usage: mxhook routes add HOSTNAME URL [--raw] [--spam-check] [--json] [--strip-replies] [--raw-8bit keep|encode] | add HOSTNAME --inspect | list | rm HOSTNAME\n'
  + '       mxhook routes update HOSTNAME [--raw | --parsed] [--json | --multipart] [--strip-replies | --no-strip-replies] [--raw-8bit keep|encode]\n'
  + '       mxhook routes rules HOSTNAME | rule add HOSTNAME MATCH URL | rule add HOSTNAME MATCH --drop | rule rm HOSTNAME MATCH\n';

export function runRoutesCommand(config: Config, args: string[], flags: ReadonlySet<string>, output: Output): Promise<number> {
  // The value of --raw-8bit is read here and taken out of the operands.
  const raw8bitAt = args.indexOf('--raw-8bit');
  const raw8bit = raw8bitAt < 0 ? undefined : args[raw8bitAt + 1] ?? '';
  const operands = raw8bitAt < 0 ? args : args.filter((_, i) => i !== raw8bitAt && i !== raw8bitAt + 1);
  return withRedis(config, output, async (redis, keys, shards) => {
    const routes = createRouteAdmin(redis, keys, undefined, undefined, shards);
    const inspector = () => createInspector(redis, keys, createSigningSecrets(redis, keys));
    const [sub, hostname, url] = operands;
    if (sub === 'list') {
      for (const r of await routes.list()) output.out(`${listLine(r)}\n`);
      return 0;
    }
    if (sub === 'update' && hostname && !url) {
      const change = routeChange(flags, raw8bit);
      if (!Object.keys(change).length) {
        output.err('mxhook: say what to change: --raw, --parsed, --json, --multipart, --strip-replies, --no-strip-replies or --raw-8bit keep|encode\n');
        return 2;
      }
      output.out(`updated ${listLine(await routes.update(hostname, change))}\n`);
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
        hostname, url: target, send_raw: flags.has('--raw'), spam_check: flags.has('--spam-check'), ...routeChange(flags, raw8bit),
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

/** A route as `routes list` prints it: hostname, URL, mode, then the options that are on. */
function listLine(r: ParseSetting): string {
  const rules = r.address_rules?.length ? `${r.address_rules.length} address rule${r.address_rules.length === 1 ? '' : 's'}` : '';
  return [r.hostname, r.url, r.send_raw ? 'raw' : 'parsed', r.payload_format === 'json' ? 'json' : '', r.spam_check ? 'spam_check' : '',
    r.strip_replies ? 'strip_replies' : '', r.raw_8bit === 'encode' ? 'raw_8bit=encode' : '', rules].filter(Boolean).join('\t');
}

/**
 * The extension settings the flags ask for, as a route body: only the ones given, so `update`
 * leaves the rest as they are. A bad --raw-8bit value is the route service's to refuse, by name.
 */
function routeChange(flags: ReadonlySet<string>, raw8bit: string | undefined): Record<string, unknown> {
  return {
    ...(flags.has('--raw') ? { send_raw: true } : flags.has('--parsed') ? { send_raw: false } : {}),
    ...(flags.has('--json') ? { payload_format: 'json' } : flags.has('--multipart') ? { payload_format: 'multipart' } : {}),
    ...(flags.has('--strip-replies') ? { strip_replies: true } : flags.has('--no-strip-replies') ? { strip_replies: false } : {}),
    ...(raw8bit !== undefined ? { raw_8bit: raw8bit } : {}),
  };
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
