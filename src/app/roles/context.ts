/** What every role is started with: the frozen config, one Redis endpoint, and the process's stop lists. */
import type { Redis } from '../../store/redis-client.ts';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.ts';
import type { RouteRegistry } from '../../routes/registry.ts';
import type { KeySpace } from '../../store/keys.ts';
import type { ShardDirectory } from '../../store/shards.ts';
import type { RedisRole } from '../../store/redis.ts';
import type { RedisMemoryWatch } from '../../store/redis-memory.ts';
import type { MxhookMetrics } from '../metrics.ts';

export interface RoleContext {
  readonly config: Config;
  readonly logger: Logger;
  /** The shared key space: routes, secrets, sessions, figures (store/shards.ts). */
  readonly keys: KeySpace;
  /** The shards mail is spread over (one, the shared space, unless MXHOOK_SHARDS says more). */
  readonly shards: ShardDirectory;
  /** Replicas an accept waits for before its 250 (MXHOOK_REDIS_WAIT_REPLICAS, resolved). */
  readonly waitReplicas: number;
  /** The process's shared fail-fast connection (auto-pipelining): route lookups, accepts, the API. */
  readonly redis: Redis;
  readonly routes: RouteRegistry;
  readonly metrics: MxhookMetrics;
  /** How full Redis is (checked on a timer while an smtp or api role runs). */
  readonly redisMemory: RedisMemoryWatch;
  /** A new connection to the same Redis, closed when the process stops. */
  connect(role: RedisRole, name: string, autoPipelining?: boolean): Redis;
  /** Run first at stop: listeners stop taking new sessions and requests (they run at once). */
  onStopListening(stop: () => Promise<unknown>): void;
  /** Run after the listeners, in reverse order of registration. */
  onStop(stop: () => Promise<unknown>): void;
}
