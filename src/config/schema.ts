/**
 * Every setting mxhook has, defined once: its env var, its flag, what it means and its default.
 * Loading, validation, `--help` and the redacted start-up log are all derived from this table.
 */
import {
  parseBoolean, parseDuration, parseDurationRange, parseList, parsePort, parsePositiveInt, parseSize,
} from './units.ts';

export interface SettingDefinition<T> {
  /** Environment variable that sets it. */
  readonly env: string;
  /** Command-line flag that sets it (wins over the env var). */
  readonly flag: string;
  readonly description: string;
  /** Default, written as a user would write it; `undefined` means "not set". */
  readonly default: string | undefined;
  readonly parse: (text: string) => T;
  /** Never printed in logs or `--help` output. */
  readonly secret?: boolean;
}

function setting<T, D extends string | undefined>(
  definition: SettingDefinition<T> & { readonly default: D },
): SettingDefinition<T> & { readonly default: D } {
  return definition;
}

const text = (value: string): string => value;

export const settingsSchema = {
  dataDir: setting({ env: 'MXHOOK_DATA_DIR', flag: '--data-dir', default: './data', parse: text,
    description: 'Directory for the managed redis-server (socket, append-only file) and spooled attachments.' }),
  redisUrl: setting({ env: 'REDIS_URL', flag: '--redis-url', default: undefined, parse: text, secret: true,
    description: 'Redis to use (redis://, rediss:// or a unix socket path). Unset: start and supervise a local redis-server in the data directory.' }),
  redisPrefix: setting({ env: 'MXHOOK_REDIS_PREFIX', flag: '--redis-prefix', default: 'mxhook', parse: text,
    description: 'Prefix of every Redis key; use a {hash-tag} such as {mxhook} on Redis Cluster.' }),
  hostname: setting({ env: 'MXHOOK_HOSTNAME', flag: '--hostname', default: undefined, parse: text,
    description: 'Name this server gives itself in the SMTP greeting and Received headers (default: the machine hostname).' }),
  smtpHost: setting({ env: 'MXHOOK_SMTP_HOST', flag: '--smtp-host', default: '0.0.0.0', parse: text,
    description: 'Address the SMTP listener binds.' }),
  smtpPort: setting({ env: 'MXHOOK_SMTP_PORT', flag: '--smtp-port', default: '2525', parse: parsePort,
    description: 'SMTP listener port (MX traffic arrives on 25: map it, or set 25 when allowed to bind it).' }),
  maxMessageSize: setting({ env: 'MXHOOK_MAX_MESSAGE_SIZE', flag: '--max-message-size', default: '30MB', parse: parseSize,
    description: 'Largest message accepted (advertised with SIZE; bigger ones get 552 5.3.4).' }),
  maxRecipients: setting({ env: 'MXHOOK_MAX_RECIPIENTS', flag: '--max-recipients', default: '100', parse: parsePositiveInt,
    description: 'Most RCPT TO accepted per message; more get 452 4.5.3.' }),
  maxClients: setting({ env: 'MXHOOK_MAX_CLIENTS', flag: '--max-clients', default: '1000', parse: parsePositiveInt,
    description: 'Most concurrent SMTP connections; more are answered 421 and closed.' }),
  reservedLocalParts: setting({ env: 'MXHOOK_RESERVED_LOCAL_PARTS', flag: '--reserved-local-parts', default: 'abuse,postmaster,unsubscribe',
    parse: parseList, description: 'Local parts refused at parse hostnames, as SendGrid does (comma list; empty to accept all).' }),
  apiHost: setting({ env: 'MXHOOK_API_HOST', flag: '--api-host', default: '0.0.0.0', parse: text,
    description: 'Address the HTTP API binds.' }),
  apiPort: setting({ env: 'MXHOOK_API_PORT', flag: '--api-port', default: '8080', parse: parsePort,
    description: 'HTTP API port (settings API, /healthz).' }),
  apiKey: setting({ env: 'MXHOOK_API_KEY', flag: '--api-key', default: undefined, parse: text, secret: true,
    description: 'Bearer key for the API. Unset: one is generated on first start, printed once, and only its hash kept.' }),
  workerConcurrency: setting({ env: 'MXHOOK_WORKER_CONCURRENCY', flag: '--worker-concurrency', default: '32', parse: parsePositiveInt,
    description: 'Deliveries one worker process runs at once.' }),
  connectTimeout: setting({ env: 'MXHOOK_CONNECT_TIMEOUT', flag: '--connect-timeout', default: '10s', parse: parseDuration,
    description: 'Time allowed to connect to an app.' }),
  requestTimeout: setting({ env: 'MXHOOK_REQUEST_TIMEOUT', flag: '--request-timeout', default: '30s', parse: parseDuration,
    description: 'Time allowed for a whole POST, from connect to the end of the answer.' }),
  retryFastInterval: setting({ env: 'MXHOOK_RETRY_FAST_INTERVAL', flag: '--retry-fast-interval', default: '5m-10m', parse: parseDurationRange,
    description: 'Wait between attempts during the first phase (a random value in the range).' }),
  retryFastPhase: setting({ env: 'MXHOOK_RETRY_FAST_PHASE', flag: '--retry-fast-phase', default: '1h', parse: parseDuration,
    description: 'How long after receipt the fast retry interval applies.' }),
  retrySlowInterval: setting({ env: 'MXHOOK_RETRY_SLOW_INTERVAL', flag: '--retry-slow-interval', default: '2h-3h', parse: parseDurationRange,
    description: 'Wait between attempts after the first phase.' }),
  retryMaxAge: setting({ env: 'MXHOOK_RETRY_MAX_AGE', flag: '--retry-max-age', default: '72h', parse: parseDuration,
    description: 'Give up retrying this long after receipt; the delivery is then dead-lettered.' }),
  deadLetterRetention: setting({ env: 'MXHOOK_DEAD_LETTER_RETENTION', flag: '--dead-letter-retention', default: '7d', parse: parseDuration,
    description: 'How long a dead letter (and its raw message) is kept.' }),
  logLevel: setting({ env: 'MXHOOK_LOG_LEVEL', flag: '--log-level', default: 'info', parse: (v: string) => {
    if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(v)) throw new Error(`expected trace, debug, info, warn, error, fatal or silent, got "${v}"`);
    return v;
  }, description: 'Log level of the JSON log lines on stdout.' }),
  logSmtp: setting({ env: 'MXHOOK_LOG_SMTP_PROTOCOL', flag: '--log-smtp-protocol', default: 'false', parse: parseBoolean,
    description: 'Also log every SMTP command and reply (debugging only).' }),
} as const;

export type SettingsSchema = typeof settingsSchema;
export type SettingName = keyof SettingsSchema;

/** The validated, frozen configuration: each value as its setting's parser returns it. */
export type Config = {
  readonly [K in SettingName]: SettingsSchema[K]['default'] extends string
    ? ReturnType<SettingsSchema[K]['parse']>
    : ReturnType<SettingsSchema[K]['parse']> | undefined;
};
