/** A route's signing secrets: list (ids only), add (value shown once), remove; the ECDSA public key. */
import type { ServerResponse } from 'node:http';
import type { RouteRegistry } from '../routes/registry.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import { normalizeHostname } from '../domain/address.ts';
import { fail, sendJson } from './http.ts';

async function existingHostname(routes: RouteRegistry, hostname: string): Promise<string> {
  const normalized = normalizeHostname(hostname);
  if (!normalized || !(await routes.get(normalized))) fail('NOT_FOUND', `no parse setting for ${hostname}`);
  return normalized;
}

export async function listSecrets(routes: RouteRegistry, secrets: SigningSecrets, hostname: string, res: ServerResponse): Promise<void> {
  sendJson(res, 200, { result: await secrets.list(await existingHostname(routes, hostname)) });
}

export async function addSecret(routes: RouteRegistry, secrets: SigningSecrets, hostname: string, res: ServerResponse): Promise<void> {
  sendJson(res, 201, await secrets.add(await existingHostname(routes, hostname)));
}

export async function removeSecret(routes: RouteRegistry, secrets: SigningSecrets, hostname: string, id: string, res: ServerResponse): Promise<void> {
  if (!(await secrets.remove(await existingHostname(routes, hostname), id))) fail('NOT_FOUND', `no secret ${id} for ${hostname}`);
  res.writeHead(204).end();
}
