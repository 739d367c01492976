/** A route's signing secrets: list (ids only), add (value shown once), remove. */
import type { ServerResponse } from 'node:http';
import type { RouteRegistry } from '../routes/registry.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import { fail, sendJson } from './http.ts';
import { requireRoute } from './require-route.ts';

export async function listSecrets(routes: RouteRegistry, secrets: SigningSecrets, hostname: string, res: ServerResponse): Promise<void> {
  sendJson(res, 200, { result: await secrets.list((await requireRoute(routes, hostname)).hostname) });
}

export async function addSecret(routes: RouteRegistry, secrets: SigningSecrets, hostname: string, res: ServerResponse): Promise<void> {
  sendJson(res, 201, await secrets.add((await requireRoute(routes, hostname)).hostname));
}

export async function removeSecret(routes: RouteRegistry, secrets: SigningSecrets, hostname: string, id: string, res: ServerResponse): Promise<void> {
  if (!(await secrets.remove((await requireRoute(routes, hostname)).hostname, id))) fail('NOT_FOUND', `no secret ${id} for ${hostname}`);
  res.writeHead(204).end();
}
