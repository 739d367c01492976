/** `mxhook inspect HOSTNAME [--wait] [--full]`: the POSTs the built-in inspector kept for a route. */
import type { Config } from '../../config/schema.ts';
import { normalizeHostname } from '../../domain/address.ts';
import { formatInspectedPost, inspectorTokenOf } from '../../domain/inspection.ts';
import { createInspector } from '../../routes/inspector.ts';
import { createRouteRegistry } from '../../routes/registry.ts';
import { createSigningSecrets } from '../../routes/signing-secrets.ts';
import { withRedis, type Output } from './with-redis.ts';

const INSPECT_USAGE = 'usage: mxhook inspect HOSTNAME [--wait] [--full]\n';
/** How long --wait waits for the first POST (a delivery takes well under a second when all is well). */
const WAIT_MS = 30_000;
const WAIT_STEP_MS = 200;

export function runInspectCommand(config: Config, operands: string[], flags: ReadonlySet<string>, output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const [hostname] = operands;
    if (!hostname) {
      output.err(INSPECT_USAGE);
      return 2;
    }
    const route = await createRouteRegistry(redis, keys).get(normalizeHostname(hostname));
    if (!route) {
      output.err(`mxhook: no route for ${hostname} (add one: mxhook routes add ${hostname} --inspect)\n`);
      return 1;
    }
    const token = inspectorTokenOf(route.url);
    if (!token) {
      output.err(`mxhook: ${route.hostname} POSTs to its own URL, not to the inspector (for one that does: mxhook routes add HOSTNAME --inspect)\n`);
      return 1;
    }
    const inspector = createInspector(redis, keys, createSigningSecrets(redis, keys));
    let posts = await inspector.list(token);
    // Polls the kept list: the POST comes from a worker, maybe in another process.
    for (const deadline = Date.now() + WAIT_MS; flags.has('--wait') && posts.length === 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
      posts = await inspector.list(token);
    }
    if (posts.length === 0) {
      output.out(`no POST to ${route.hostname} yet${flags.has('--wait') ? ` (waited ${WAIT_MS / 1000} s; see mxhook dead list)` : ''}\n`);
      return flags.has('--wait') ? 1 : 0;
    }
    posts.forEach((post, i) => output.out(`${i ? '\n' : ''}${formatInspectedPost(post, i + 1, flags.has('--full'))}`));
    return 0;
  });
}
