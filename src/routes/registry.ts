/** The hostname -> route registry, one Redis hash shared by every mxhook process. */
import type { Redis } from 'ioredis';
import type { ParseSetting } from '../domain/route.ts';
import type { KeySpace } from '../store/keys.ts';

export interface RouteRegistry {
  list(): Promise<ParseSetting[]>;
  get(hostname: string): Promise<ParseSetting | undefined>;
  /** Creates the route; resolves false when the hostname is already taken. */
  create(setting: ParseSetting): Promise<boolean>;
  /** Replaces an existing route; resolves false when it does not exist. */
  replace(setting: ParseSetting): Promise<boolean>;
  /** Resolves false when there was nothing to delete. */
  remove(hostname: string): Promise<boolean>;
}

// Replace only if present, atomically (HSETNX covers the create side).
const REPLACE_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
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
    async remove(hostname) {
      return (await redis.hdel(keys.routes, hostname)) === 1;
    },
  };
}
