/**
 * Routes and their signing secrets as the API, the CLI and the console manage them, written once:
 * validation, the route and its first secret in one step, masked URLs, precise errors (catalogue
 * codes, thrown as MxhookError for each surface to word its own way).
 */
import type { Redis } from '../store/redis-client.ts';
import { maskUrlPassword, restoreMaskedPassword } from '../config/redact.ts';
import { normalizeHostname } from '../domain/address.ts';
import { MxhookError } from '../domain/errors.ts';
import { validateParseSetting, type ParseSetting } from '../domain/route.ts';
import { createRouteRegistry, type RouteRegistry } from '../routes/registry.ts';
import { createSigningSecrets, type NewSecret, type SecretInfo, type SigningSecrets } from '../routes/signing-secrets.ts';
import { singleShardDirectory, sumOverShards, type ShardDirectory } from '../store/shards.ts';
import type { KeySpace } from '../store/keys.ts';
import { readRouteStats, type RouteStats } from '../store/route-stats.ts';

export interface RouteAdmin {
  /** Every route, sorted by hostname; basic-auth passwords in URLs shown as `***`. */
  list(): Promise<ParseSetting[]>;
  /** One route (password masked); NOT_FOUND when there is none. */
  get(hostname: string): Promise<ParseSetting>;
  /**
   * Validates and creates a route with its first signing secret, in one Redis step. The secret's
   * value is returned here only. VALIDATION_FAILED, DUPLICATE_HOSTNAME.
   */
  create(input: unknown): Promise<{ setting: ParseSetting; secret: NewSecret }>;
  /** Applies a partial change (hostname cannot change); answers the result, password masked. */
  update(hostname: string, input: unknown): Promise<ParseSetting>;
  /** Deletes a route and its secrets in one step; resolves with the normalised hostname. */
  remove(hostname: string): Promise<string>;
  listSecrets(hostname: string): Promise<SecretInfo[]>;
  addSecret(hostname: string): Promise<NewSecret>;
  removeSecret(hostname: string, id: string): Promise<void>;
  stats(hostname: string): Promise<RouteStats>;
}

/** The answer's view of a route: never a password (an API key reads it, not the app's owner). */
export function maskedSetting(setting: ParseSetting): ParseSetting {
  const url = maskUrlPassword(setting.url);
  const rules = setting.address_rules?.map((r) => (r.url && maskUrlPassword(r.url) !== r.url ? { ...r, url: maskUrlPassword(r.url) } : r));
  return url === setting.url && !rules?.some((r, i) => r !== setting.address_rules![i]) ? setting : { ...setting, url, ...(rules ? { address_rules: rules } : {}) };
}

/** A rule sent back with its masked URL (a GET, edited, PATCHed) keeps the stored URL's password. */
function unmaskRuleUrls(body: Record<string, unknown>, existing: ParseSetting): void {
  if (!Array.isArray(body.address_rules) || !existing.address_rules) return;
  const stored = new Map(existing.address_rules.filter((r) => r.url).map((r) => [maskUrlPassword(r.url!), r.url!]));
  body.address_rules = body.address_rules.map((rule: unknown) => {
    if (typeof rule !== 'object' || rule === null) return rule;
    const url = (rule as Record<string, unknown>).url;
    const original = typeof url === 'string' ? stored.get(url) : undefined;
    return original && original !== url ? { ...rule, url: original } : rule;
  });
}

export function createRouteAdmin(
  redis: Redis,
  keys: KeySpace,
  registry: RouteRegistry = createRouteRegistry(redis, keys),
  secrets: SigningSecrets = createSigningSecrets(redis, keys),
  /** Where a route's counters are, each shard counting its own share. */
  shards: ShardDirectory = singleShardDirectory(keys),
): RouteAdmin {
  const requireRoute = async (hostname: string): Promise<ParseSetting> => {
    const normalized = normalizeHostname(hostname);
    const setting = normalized ? await registry.get(normalized) : undefined;
    if (!setting) throw new MxhookError('NOT_FOUND', { message: `no parse setting for ${hostname}` });
    return setting;
  };
  const validated = (input: unknown, existing?: ParseSetting): ParseSetting => {
    const checked = validateParseSetting(input, existing);
    if (checked.errors) throw new MxhookError('VALIDATION_FAILED', { fieldErrors: checked.errors });
    return checked.setting;
  };
  return {
    async list() {
      return (await registry.list()).map(maskedSetting);
    },
    async get(hostname) {
      return maskedSetting(await requireRoute(hostname));
    },
    async create(input) {
      const setting = validated(input);
      const secret = await registry.createSigned(setting);
      if (!secret) {
        throw new MxhookError('DUPLICATE_HOSTNAME', { fieldErrors: [{ field: 'hostname', message: `a parse setting for ${setting.hostname} already exists` }] });
      }
      return { setting: maskedSetting(setting), secret };
    },
    async update(hostname, input) {
      const existing = await requireRoute(hostname);
      const body = restoreMaskedPassword(input, existing.url);
      if (body && typeof body === 'object') unmaskRuleUrls(body as Record<string, unknown>, existing);
      const setting = validated(body, existing);
      if (!(await registry.replace(setting))) throw new MxhookError('NOT_FOUND', { message: `no parse setting for ${hostname}` });
      return maskedSetting(setting);
    },
    async remove(hostname) {
      const normalized = normalizeHostname(hostname);
      if (!normalized || !(await registry.remove(normalized))) throw new MxhookError('NOT_FOUND', { message: `no parse setting for ${hostname}` });
      return normalized;
    },
    async listSecrets(hostname) {
      return secrets.list((await requireRoute(hostname)).hostname);
    },
    async addSecret(hostname) {
      return secrets.add((await requireRoute(hostname)).hostname);
    },
    async removeSecret(hostname, id) {
      if (!(await secrets.remove((await requireRoute(hostname)).hostname, id))) {
        throw new MxhookError('NOT_FOUND', { message: `no secret ${id} for ${hostname}` });
      }
    },
    async stats(hostname) {
      const { hostname: name } = await requireRoute(hostname);
      return sumOverShards(shards, (k) => readRouteStats(redis, k, name));
    },
  };
}
