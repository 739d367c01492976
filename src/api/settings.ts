/** SendGrid's parse settings API (SPEC §5) over the route registry. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { normalizeHostname } from '../domain/address.ts';
import { MxhookError } from '../domain/errors.ts';
import { validateParseSetting } from '../domain/route.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import { fail, readJsonBody, sendJson } from './http.ts';
import { requireRoute } from './require-route.ts';

export async function listSettings(routes: RouteRegistry, res: ServerResponse): Promise<void> {
  sendJson(res, 200, { result: await routes.list() });
}

/** Creates the route and its first signing secret; the secret's value is in this answer only. */
export async function createSetting(routes: RouteRegistry, secrets: SigningSecrets, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const checked = validateParseSetting(await readJsonBody(req));
  if (checked.errors) throw new MxhookError('VALIDATION_FAILED', { fieldErrors: checked.errors });
  if (!(await routes.create(checked.setting))) {
    throw new MxhookError('DUPLICATE_HOSTNAME', { fieldErrors: [{ field: 'hostname', message: `a parse setting for ${checked.setting.hostname} already exists` }] });
  }
  const secret = await secrets.add(checked.setting.hostname);
  sendJson(res, 201, { ...checked.setting, signing_secret: secret.secret, signing_secret_id: secret.id });
}

export async function getSetting(routes: RouteRegistry, hostname: string, res: ServerResponse): Promise<void> {
  sendJson(res, 200, await requireRoute(routes, hostname));
}

export async function patchSetting(routes: RouteRegistry, hostname: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req);
  const existing = await requireRoute(routes, hostname);
  const checked = validateParseSetting(body, existing);
  if (checked.errors) throw new MxhookError('VALIDATION_FAILED', { fieldErrors: checked.errors });
  if (!(await routes.replace(checked.setting))) fail('NOT_FOUND', `no parse setting for ${hostname}`);
  sendJson(res, 200, checked.setting);
}

export async function deleteSetting(routes: RouteRegistry, secrets: SigningSecrets, hostname: string, res: ServerResponse): Promise<void> {
  if (!(await routes.remove(normalizeHostname(hostname)))) fail('NOT_FOUND', `no parse setting for ${hostname}`);
  await secrets.removeAll(normalizeHostname(hostname));
  res.writeHead(204).end();
}
