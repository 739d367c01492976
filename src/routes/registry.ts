/** The hostname -> route registry, one Redis hash shared by every mxhook process. */
import type { Redis } from '../store/redis-client.ts';
import type { ParseSetting } from '../domain/route.ts';
import type { KeySpace } from '../store/keys.ts';
import { newSigningSecret, routeSecretsKey, type NewSecret } from './signing-secrets.ts';

export interface RouteRegistry {
  list(): Promise<ParseSetting[]>;
  get(hostname: string): Promise<ParseSetting | undefined>;
  /** Creates the route, unsigned; resolves false when the hostname is already taken. */
  create(setting: ParseSetting): Promise<boolean>;
  /**
   * Creates the route and its first signing secret in one step (no unsigned route is left when it
   * fails); resolves with the secret, or undefined when the hostname is already taken.
   */
  createSigned(setting: ParseSetting): Promise<NewSecret | undefined>;
  /** Replaces an existing route; resolves false when it does not exist. */
  replace(setting: ParseSetting): Promise<boolean>;
  /**
   * Deletes the route and its signing secrets in one MULTI (a racing re-create cannot lose its new
   * secret to this delete); resolves false when there was nothing to delete.
   */
  remove(hostname: string): Promise<boolean>;
}

// Replace only if present, atomically (HSETNX covers the create side).
const REPLACE_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

// The secret is written before the route: a script is not rolled back when a command fails, so a
// failing write leaves nothing behind rather than a route without its secret.
const CREATE_SIGNED_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

export function createRouteRegistry(redis: Redis, keys: KeySpace): RouteRegistry {
  return {
    async list() {
      const all = await redis.hgetall(keys.routes);
      return Object.values(all)
        .map((json) => JSON.parse(json) as ParseSetting)
        .sort((a, b) => a.hostname.localeCompare(b.hostname));
    },
    async get(hostname) {
      const json = await redis.hget(keys.routes, hostname);
      return json ? (JSON.parse(json) as ParseSetting) : undefined;
    },
    async create(setting) {
      return (await redis.hsetnx(keys.routes, setting.hostname, JSON.stringify(setting))) === 1;
    },
    async replace(setting) {
      return (await redis.eval(REPLACE_SCRIPT, 1, keys.routes, setting.hostname, JSON.stringify(setting))) === 1;
    },
    async createSigned(setting) {
      const { secret, stored } = newSigningSecret();
      const created = await redis.eval(CREATE_SIGNED_SCRIPT, 2, keys.routes, routeSecretsKey(keys, setting.hostname),
        setting.hostname, JSON.stringify(setting), secret.id, stored);
      return created === 1 ? secret : undefined;
    },
    async remove(hostname) {
      const results = await redis.multi().hdel(keys.routes, hostname).del(routeSecretsKey(keys, hostname)).exec();
      const [error, removed] = results?.[0] ?? [new Error('route delete: transaction aborted')];
      if (error) throw error;
      return removed === 1;
    },
  };
}
