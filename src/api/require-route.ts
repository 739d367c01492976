/** The route an API path names, or 404: shared by settings, secrets and per-route stats. */
import { normalizeHostname } from '../domain/address.ts';
import type { ParseSetting } from '../domain/route.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import { fail } from './http.ts';

export async function requireRoute(routes: RouteRegistry, hostname: string): Promise<ParseSetting> {
  const normalized = normalizeHostname(hostname);
  const setting = normalized ? await routes.get(normalized) : undefined;
  if (!setting) fail('NOT_FOUND', `no parse setting for ${hostname}`);
  return setting;
}
