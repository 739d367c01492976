/** Builds the frozen Config from flags and env vars, validating every value against the schema. */
import os from 'node:os';
import { hashTagOf } from './hash-tag.ts';
import { maskUrlCredentials } from './redact.ts';
import { settingsSchema, type Config, type SettingName, type SettingDefinition } from './schema.ts';

/** A setting had a value its parser refused, or a flag was unknown. The message names the setting. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const entries = Object.entries(settingsSchema) as [SettingName, SettingDefinition<unknown>][];

/**
 * Reads `--flag value` / `--flag=value` pairs out of argv (flags win over env vars).
 * Returns the config and the arguments that were not settings (the command and its operands).
 */
export function loadConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  /** Flags that belong to a command (e.g. `--raw`), passed through in `rest` untouched. */
  commandFlags: ReadonlySet<string> = new Set(),
): { config: Config; rest: string[] } {
  const byFlag = new Map(entries.map(([name, def]) => [def.flag, name]));
  const fromFlags = new Map<SettingName, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--help' || commandFlags.has(arg)) {
      rest.push(arg);
      continue;
    }
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const name = byFlag.get(flag);
    if (!name) throw new ConfigError(`unknown option ${flag} (see mxhook --help)`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    fromFlags.set(name, value);
  }
  const values: Record<string, unknown> = {};
  for (const [name, def] of entries) {
    const raw = fromFlags.get(name) ?? env[def.env] ?? def.default;
    if (raw === undefined || (raw === '' && def.default === undefined)) {
      values[name] = undefined;
      continue;
    }
    try {
      values[name] = def.parse(raw);
    } catch (err) {
      throw new ConfigError(`${def.env} (${def.flag}): ${(err as Error).message}`);
    }
  }
  values.hostname ??= os.hostname();
  // A message must outlive its retries: expired first, its last attempts would find nothing to send.
  if ((values.messageTtl as number) <= (values.retryMaxAge as number)) {
    throw new ConfigError(`${settingsSchema.messageTtl.env} (${settingsSchema.messageTtl.flag}) must be longer than ${settingsSchema.retryMaxAge.env} (${settingsSchema.retryMaxAge.flag})`);
  }
  // Kept raw messages must give way before new mail is refused, not at the same mark.
  if ((values.rawRetentionMemory as number) >= (values.redisMemoryHigh as number)) {
    throw new ConfigError(`${settingsSchema.rawRetentionMemory.env} (${settingsSchema.rawRetentionMemory.flag}) must be below ${settingsSchema.redisMemoryHigh.env} (${settingsSchema.redisMemoryHigh.flag})`);
  }
  if (values.redisCluster !== undefined && values.redisUrl !== undefined) {
    throw new ConfigError(`set ${settingsSchema.redisUrl.env} or ${settingsSchema.redisCluster.env}, not both`);
  }
  // Each shard gets a hash tag of its own: one in the prefix would put them all in one slot.
  if ((values.shards as number) > 1 && hashTagOf(values.redisPrefix as string) !== undefined) {
    throw new ConfigError(`${settingsSchema.shards.env} (${settingsSchema.shards.flag}) above 1 needs ${settingsSchema.redisPrefix.env} without a {hash tag} (it is ${String(values.redisPrefix)})`);
  }
  // Frozen all the way down: list and range values are arrays, which Object.freeze alone leaves open.
  for (const value of Object.values(values)) if (Array.isArray(value)) Object.freeze(value);
  return { config: Object.freeze(values) as Config, rest };
}

/** The config as a log line may show it: secrets replaced, URL passwords masked. */
export function redactConfig(config: Config): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [name, def] of entries) {
    const value = config[name];
    shown[name] = def.secret && value !== undefined ? redactSecret(name, String(value)) : value;
  }
  return shown;
}

function redactSecret(name: SettingName, value: string): string {
  // Credentials may hold a raw "@" (greedy up to the last one before the path) or sit in the query.
  if (name === 'redisUrl') return maskUrlCredentials(value);
  if (name === 'redisCluster') return value.split(',').map(maskUrlCredentials).join(',');
  return '***';
}

/** `--help` text, derived from the schema. */
export function describeSettings(): string {
  return entries
    .map(([, def]) => `  ${def.flag.padEnd(26)} ${def.env}\n      ${def.description}${def.default === undefined ? '' : ` (default: ${def.default})`}`)
    .join('\n');
}

/** The settings table of docs/configuration.md (scripts/sync-docs.mjs; test/docs.test.ts checks drift). */
export function settingsMarkdownTable(): string {
  const rows = entries.map(([, def]) =>
    `| \`${def.env}\` | \`${def.flag}\` | ${def.default === undefined ? '' : `\`${def.default}\``} | ${def.description} |`);
  return ['| env var | flag | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
