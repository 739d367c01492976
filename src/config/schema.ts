/**
 * Every setting mxhook has, defined once: its env var, its flag, what it means and its default.
 * Loading, validation, `--help` and the redacted start-up log are all derived from this table.
 */
import {
  parseBoolean, parseCount, parseDuration, parseDurationRange, parseFraction, parseList, parsePort, parsePositiveInt, parseSize,
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
  /**
   * Its value is masked in the start-up log line (redactConfig in load.ts): `***`, or for the Redis
   * URL only the credentials (`redis://***@host`). `--help` prints no setting's value, secret or not.
   */
  readonly secret?: boolean;
}

function setting<T, D extends string | undefined>(
  definition: SettingDefinition<T> & { readonly default: D },
): SettingDefinition<T> & { readonly default: D } {
  return definition;
}

const text = (value: string): string => value;

/** Seed nodes, comma-separated, as written (a password in the first may have capitals). */
function parseSeeds(value: string): readonly string[] {
  const seeds = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!seeds.length) throw new Error('expected host:port,host:port,...');
  return seeds;
}

function parseShardCount(value: string): number {
  const n = parsePositiveInt(value);
  if (n > 256) throw new Error(`expected a whole number from 1 to 256, got "${value}"`);
  return n;
}

export const settingsSchema = {
  dataDir: setting({ env: 'MXHOOK_DATA_DIR', flag: '--data-dir', default: './data', parse: text,
    description: 'Directory for the managed redis-server (socket, append-only file) and spooled attachments.' }),
  redisUrl: setting({ env: 'REDIS_URL', flag: '--redis-url', default: undefined, parse: text, secret: true,
    description: 'Redis to use (redis://, rediss:// or a unix socket path). Unset: start and supervise a local redis-server in the data directory.' }),
  redisCluster: setting({ env: 'MXHOOK_REDIS_CLUSTER', flag: '--redis-cluster', default: undefined, parse: parseSeeds, secret: true,
    description: 'Redis Cluster seed nodes, host:port,host:port,... (instead of REDIS_URL). For a password or TLS write the first as redis://:password@host:port or rediss://...; it applies to every node.' }),
  redisPrefix: setting({ env: 'MXHOOK_REDIS_PREFIX', flag: '--redis-prefix', default: 'mxhook', parse: text,
    description: 'Prefix of every Redis key. On Redis Cluster shards get hash tags of their own (docs/scaling.md); a prefix with a {hash tag} keeps everything in one slot and allows one shard only.' }),
  shards: setting({ env: 'MXHOOK_SHARDS', flag: '--shards', default: '1', parse: parseShardCount,
    description: 'Shards mail is spread over, each its own queue and hash tag (e.g. 16 on a cluster of 3 to 8 primaries). A change drains the old shards; nothing is lost.' }),
  redisWaitReplicas: setting({ env: 'MXHOOK_REDIS_WAIT_REPLICAS', flag: '--redis-wait-replicas', default: undefined, parse: parseCount(16),
    description: 'Replicas that must hold a message before SMTP answers 250 (Redis WAIT); a shortfall answers 451. Default: 1 on a cluster, 0 on a single Redis.' }),
  redisWaitTimeout: setting({ env: 'MXHOOK_REDIS_WAIT_TIMEOUT', flag: '--redis-wait-timeout', default: '2s', parse: parseDuration,
    description: 'How long an accept waits for the replicas of MXHOOK_REDIS_WAIT_REPLICAS before answering 451.' }),
  hostname: setting({ env: 'MXHOOK_HOSTNAME', flag: '--hostname', default: undefined, parse: text,
    description: 'Name this server gives itself in the SMTP greeting and Received headers (default: the machine hostname).' }),
  smtpHost: setting({ env: 'MXHOOK_SMTP_HOST', flag: '--smtp-host', default: '0.0.0.0', parse: text,
    description: 'Address the SMTP listener binds.' }),
  smtpPort: setting({ env: 'MXHOOK_SMTP_PORT', flag: '--smtp-port', default: '2525', parse: parsePort,
    description: 'SMTP listener port (MX traffic arrives on 25: map it, or set 25 when allowed to bind it).' }),
  maxMessageSize: setting({ env: 'MXHOOK_MAX_MESSAGE_SIZE', flag: '--max-message-size', default: '30MB', parse: parseSize,
    description: 'Largest message accepted (advertised with SIZE; bigger ones get 552 5.3.4).' }),
  maxRecipients: setting({ env: 'MXHOOK_MAX_RECIPIENTS', flag: '--max-recipients', default: '100', parse: parsePositiveInt,
    description: 'Most recipients accepted per message (a repeated address counts once); more get 452 4.5.3.' }),
  maxClients: setting({ env: 'MXHOOK_MAX_CLIENTS', flag: '--max-clients', default: '1000', parse: parsePositiveInt,
    description: 'Most concurrent SMTP connections; more are answered 421 4.7.0 and closed.' }),
  maxConnectionsPerIp: setting({ env: 'MXHOOK_MAX_CONNECTIONS_PER_IP', flag: '--max-connections-per-ip', default: '20', parse: parsePositiveInt,
    description: 'Most concurrent SMTP connections from one client IP; more are answered 421 4.7.0 and closed.' }),
  maxConnectionsPerIpv4Network: setting({ env: 'MXHOOK_MAX_CONNECTIONS_PER_IPV4_24', flag: '--max-connections-per-ipv4-24', default: '100', parse: parsePositiveInt,
    description: 'Most concurrent SMTP connections from one IPv4 /24 (IPv4-mapped IPv6 counts as IPv4); more are answered 421 4.7.0 and closed.' }),
  maxConnectionsPerIpv6Network: setting({ env: 'MXHOOK_MAX_CONNECTIONS_PER_IPV6_64', flag: '--max-connections-per-ipv6-64', default: '20', parse: parsePositiveInt,
    description: 'Most concurrent SMTP connections from one IPv6 /64 (one subnet holds 2^64 addresses, so the per-IP limit alone is none); more are answered 421 4.7.0 and closed.' }),
  smtpCommandDeadline: setting({ env: 'MXHOOK_SMTP_COMMAND_DEADLINE', flag: '--smtp-command-deadline', default: '1m', parse: parseDuration,
    description: 'Time for each whole SMTP command line, counted from the greeting, the previous command or our reply to a message; bytes trickling in do not extend it. Then 421 4.4.2 and close.' }),
  smtpMinDataRate: setting({ env: 'MXHOOK_SMTP_MIN_DATA_RATE', flag: '--smtp-min-data-rate', default: '500', parse: parseSize,
    description: 'Slowest average rate DATA may arrive at, bytes per second, over the last --smtp-data-rate-window (checked once DATA has run that long); slower gets 421 4.4.2 and close. 0: no minimum.' }),
  smtpDataRateWindow: setting({ env: 'MXHOOK_SMTP_DATA_RATE_WINDOW', flag: '--smtp-data-rate-window', default: '30s', parse: parseDuration,
    description: 'The sliding window the DATA rate is averaged over, and the grace period at the start of DATA.' }),
  smtpSessionDeadline: setting({ env: 'MXHOOK_SMTP_SESSION_DEADLINE', flag: '--smtp-session-deadline', default: '10m', parse: parseDuration,
    description: 'Longest an SMTP session may last, however active; then 421 4.7.0 and close, even mid-DATA (a message being stored still gets its reply).' }),
  smtpIdleTimeout: setting({ env: 'MXHOOK_SMTP_IDLE_TIMEOUT', flag: '--smtp-idle-timeout', default: '1m', parse: parseDuration,
    description: 'Close an SMTP session whose client sends nothing for this long (421).' }),
  maxCommands: setting({ env: 'MXHOOK_MAX_COMMANDS', flag: '--max-commands', default: '200', parse: parsePositiveInt,
    description: 'Most SMTP commands per message (counted from the session start or the previous DATA); more get 421 4.7.0 and close. Keep it above max recipients.' }),
  proxyProtocol: setting({ env: 'MXHOOK_PROXY_PROTOCOL', flag: '--proxy-protocol', default: 'false', parse: parseBoolean,
    description: 'Expect a PROXY protocol v1 header on every SMTP connection (behind a TCP load balancer that sends one); the client IP is then the proxied one.' }),
  tlsCert: setting({ env: 'MXHOOK_TLS_CERT', flag: '--tls-cert', default: undefined, parse: text,
    description: 'PEM file with the certificate (and chain) for STARTTLS and the implicit-TLS port; reloaded on SIGHUP and when it changes.' }),
  tlsKey: setting({ env: 'MXHOOK_TLS_KEY', flag: '--tls-key', default: undefined, parse: text,
    description: 'PEM file with the private key of --tls-cert.' }),
  tlsSelfSigned: setting({ env: 'MXHOOK_TLS_SELF_SIGNED', flag: '--tls-self-signed', default: 'true', parse: parseBoolean,
    description: 'Without --tls-cert: offer STARTTLS with a self-signed certificate made at start (senders encrypt but cannot verify it), or no STARTTLS (false).' }),
  tlsWatchInterval: setting({ env: 'MXHOOK_TLS_WATCH_INTERVAL', flag: '--tls-watch-interval', default: '10s', parse: parseDuration,
    description: 'How often the certificate files are checked for changes (0: reload on SIGHUP only).' }),
  smtpTlsPort: setting({ env: 'MXHOOK_SMTP_TLS_PORT', flag: '--smtp-tls-port', default: undefined, parse: parsePort,
    description: 'Optional second SMTP port with implicit TLS (e.g. 465), on the SMTP host address, same rules as the main port.' }),
  authChecks: setting({ env: 'MXHOOK_AUTH_CHECKS', flag: '--auth-checks', default: 'true', parse: parseBoolean,
    description: 'Check SPF, DKIM, DMARC and ARC of each message at SMTP time (the SPF, dkim and auth fields, Authentication-Results).' }),
  dnsTimeout: setting({ env: 'MXHOOK_DNS_TIMEOUT', flag: '--dns-timeout', default: '5s', parse: parseDuration,
    description: 'Timeout of one try of a DNS query of the authentication checks; each query is tried twice per name server (a failed lookup gives temperror; the mail is still accepted).' }),
  authTimeout: setting({ env: 'MXHOOK_AUTH_TIMEOUT', flag: '--auth-timeout', default: '20s', parse: parseDuration,
    description: 'Time allowed for all authentication checks of one message; past it every verdict is temperror.' }),
  spamdHost: setting({ env: 'MXHOOK_SPAMD_HOST', flag: '--spamd-host', default: '127.0.0.1', parse: text,
    description: 'SpamAssassin spamd host used for routes with spam_check.' }),
  spamdPort: setting({ env: 'MXHOOK_SPAMD_PORT', flag: '--spamd-port', default: '783', parse: parsePort,
    description: 'spamd TCP port.' }),
  spamdTimeout: setting({ env: 'MXHOOK_SPAMD_TIMEOUT', flag: '--spamd-timeout', default: '15s', parse: parseDuration,
    description: 'Time allowed for one spamd check; when spamd is down or slower, the POST goes without the spam fields.' }),
  reservedLocalParts: setting({ env: 'MXHOOK_RESERVED_LOCAL_PARTS', flag: '--reserved-local-parts', default: 'abuse,postmaster,unsubscribe',
    parse: parseList, description: 'Local parts refused at parse hostnames, as SendGrid does (comma list; empty to accept all).' }),
  apiHost: setting({ env: 'MXHOOK_API_HOST', flag: '--api-host', default: '0.0.0.0', parse: text,
    description: 'Address the HTTP API binds.' }),
  apiPort: setting({ env: 'MXHOOK_API_PORT', flag: '--api-port', default: '8080', parse: parsePort,
    description: 'HTTP API port: settings and signing-secrets API, dead letters, stats, /signed, /healthz and /metrics.' }),
  console: setting({ env: 'MXHOOK_CONSOLE', flag: '--console', default: 'true', parse: parseBoolean,
    description: 'Serve the web console at /ui on the API port (log in with the API key).' }),
  consoleSessionIdle: setting({ env: 'MXHOOK_CONSOLE_SESSION_IDLE', flag: '--console-session-idle', default: '30m', parse: parseDuration,
    description: 'A console session ends after this long without a request.' }),
  consoleSessionMaxAge: setting({ env: 'MXHOOK_CONSOLE_SESSION_MAX_AGE', flag: '--console-session-max-age', default: '12h', parse: parseDuration,
    description: 'A console session ends this long after logging in, used or not.' }),
  consoleSecureCookie: setting({ env: 'MXHOOK_CONSOLE_SECURE_COOKIE', flag: '--console-secure-cookie', default: 'false', parse: parseBoolean,
    description: 'Mark the console session cookie Secure (set it when the console is reached over HTTPS, e.g. through a TLS proxy).' }),
  apiKey: setting({ env: 'MXHOOK_API_KEY', flag: '--api-key', default: undefined, parse: text, secret: true,
    description: 'Bearer key for the API. Unset: one is generated on first start, printed once, and only its hash kept.' }),
  metricsPort: setting({ env: 'MXHOOK_METRICS_PORT', flag: '--metrics-port', default: undefined, parse: parsePort,
    description: 'Also serve /metrics (Prometheus) on this port, on the API host: for processes without the API, such as `mxhook worker`; each process serves its own counters. With the API, /metrics is on the API port too.' }),
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
  messageTtl: setting({ env: 'MXHOOK_MESSAGE_TTL', flag: '--message-ttl', default: '8d', parse: parseDuration,
    description: 'A stored message (raw bytes, envelope, pending deliveries) expires this long after it was accepted, whatever became of its deliveries; must exceed MXHOOK_RETRY_MAX_AGE.' }),
  redisMemoryHigh: setting({ env: 'MXHOOK_REDIS_MEMORY_HIGH', flag: '--redis-memory-high', default: '0.9', parse: parseFraction,
    description: 'Share of Redis maxmemory (0.9 or 90%) above which new mail is answered 451 4.3.0 and /healthz says degraded, until usage falls below it; no effect when Redis has no maxmemory.' }),
  allowPrivateDestinations: setting({ env: 'MXHOOK_ALLOW_PRIVATE_DESTINATIONS', flag: '--allow-private-destinations', default: 'true', parse: parseBoolean,
    description: 'Allow webhook URLs that resolve to private or loopback addresses (set false when untrusted users create routes). Cloud metadata and link-local addresses are always refused.' }),
  breakerThreshold: setting({ env: 'MXHOOK_BREAKER_THRESHOLD', flag: '--breaker-threshold', default: '5', parse: parsePositiveInt,
    description: 'Consecutive retryable failures after which a destination gets no POSTs for a cool-down (its deliveries wait, others flow).' }),
  breakerCooldown: setting({ env: 'MXHOOK_BREAKER_COOLDOWN', flag: '--breaker-cooldown', default: '30s', parse: parseDuration,
    description: 'First cool-down of an open destination; doubles each time it re-opens, up to 10 minutes.' }),
  workerLockDuration: setting({ env: 'MXHOOK_WORKER_LOCK_DURATION', flag: '--worker-lock-duration', default: '30s', parse: parseDuration,
    description: 'A delivery whose worker died (killed mid-POST) is picked up by another worker after this long.' }),
  maxWorkerCrashes: setting({ env: 'MXHOOK_MAX_WORKER_CRASHES', flag: '--max-worker-crashes', default: '3', parse: parsePositiveInt,
    description: 'A delivery whose worker died (was killed, ran out of memory) this many times while running it is dead-lettered by its next run, without another attempt.' }),
  shutdownTimeout: setting({ env: 'MXHOOK_SHUTDOWN_TIMEOUT', flag: '--shutdown-timeout', default: '30s', parse: parseDuration,
    description: 'On SIGTERM: how long SMTP sessions in progress may take to finish (new connections get 421) before they are cut.' }),
  deadLetterRetention: setting({ env: 'MXHOOK_DEAD_LETTER_RETENTION', flag: '--dead-letter-retention', default: '7d', parse: parseDuration,
    description: 'How long a dead letter (and its raw message) is kept.' }),
  deadLetterResponseExcerpt: setting({ env: 'MXHOOK_DEAD_LETTER_RESPONSE_EXCERPT', flag: '--dead-letter-response-excerpt', default: '100', parse: parseCount(500),
    description: 'Characters of the app\'s answer kept in a dead letter\'s reason, labelled as an excerpt (0: keep only the HTTP status). Every API key holder can read it: an error page may hold secrets.' }),
  messageLog: setting({ env: 'MXHOOK_MESSAGE_LOG', flag: '--message-log', default: 'on', parse: parseBoolean,
    description: 'Keep the message log: a record of every accepted message, its deliveries and their attempts, for the messages API and CLI (off: nothing is recorded, raw messages are deleted once delivered).' }),
  messageLogRetention: setting({ env: 'MXHOOK_MESSAGE_LOG_RETENTION', flag: '--message-log-retention', default: '3d', parse: parseDuration,
    description: 'How long message-log records are kept.' }),
  messageLogMax: setting({ env: 'MXHOOK_MESSAGE_LOG_MAX', flag: '--message-log-max', default: '1000000', parse: parsePositiveInt,
    description: 'Most message-log records kept; past it the oldest are dropped first (counted in /metrics). With shards, each keeps its share.' }),
  rawRetention: setting({ env: 'MXHOOK_RAW_RETENTION', flag: '--raw-retention', default: '24h', parse: parseDuration,
    description: 'How long a raw message is kept after its last delivery ended, so the log can download or redeliver it (0: deleted at once). Needs the message log. Bounded by MXHOOK_RAW_RETENTION_MAX_BYTES and MXHOOK_RAW_RETENTION_MEMORY.' }),
  rawRetentionMemory: setting({ env: 'MXHOOK_RAW_RETENTION_MEMORY', flag: '--raw-retention-memory', default: '0.7', parse: parseFraction,
    description: 'Share of Redis maxmemory above which kept raw messages give way: none is kept, and the oldest kept are deleted until usage is below it again (the message log\'s first, then the copies kept for attachment download links; counted in /metrics), so they never push Redis to MXHOOK_REDIS_MEMORY_HIGH, where new mail is refused. No effect without maxmemory.' }),
  rawRetentionMaxBytes: setting({ env: 'MXHOOK_RAW_RETENTION_MAX_BYTES', flag: '--raw-retention-max-bytes', default: '1GB', parse: parseSize,
    description: 'Most bytes of raw messages kept after delivery; past it the oldest kept ones are dropped first (counted in /metrics). The copies kept for attachment download links have a cap of the same size of their own. With shards, each keeps its share.' }),
  eventWebhookMaxAge: setting({ env: 'MXHOOK_EVENT_WEBHOOK_MAX_AGE', flag: '--event-webhook-max-age', default: '24h', parse: parseDuration,
    description: 'An event-webhook batch not accepted (2xx) by its destination this long after it was cut is dropped (counted in /metrics, logged).' }),
  eventWebhookRetryMaxInterval: setting({ env: 'MXHOOK_EVENT_WEBHOOK_RETRY_MAX_INTERVAL', flag: '--event-webhook-retry-max-interval', default: '10m', parse: parseDuration,
    description: 'Longest wait between two tries of an event-webhook batch (the waits double from 1 s up to it).' }),
  eventWebhookBacklog: setting({ env: 'MXHOOK_EVENT_WEBHOOK_BACKLOG', flag: '--event-webhook-backlog', default: '100000', parse: parsePositiveInt,
    description: 'Most events waiting to be sent per event destination; past it the oldest batches are dropped first (counted in /metrics, logged).' }),
  publicUrl: setting({ env: 'MXHOOK_PUBLIC_URL', flag: '--public-url', default: undefined, parse: (v: string) => {
    if (!/^https?:\/\/[^/?#]+/i.test(v)) throw new Error(`expected an http(s) URL such as https://mx.example.com, got "${v}"`);
    return v.replace(/\/+$/, '');
  }, description: 'Base URL at which apps reach this server\'s API, for the attachment download links of JSON POSTs (e.g. https://mx.example.com); unset: the API address this data directory\'s api role listens on, which is a loopback one when it binds 0.0.0.0, so then only apps on loopback get links (others: the delivery is retried with an error naming this setting).' }),
  attachmentUrlTtl: setting({ env: 'MXHOOK_ATTACHMENT_URL_TTL', flag: '--attachment-url-ttl', default: '24h', parse: parseDuration,
    description: 'How long an attachment download link in a JSON POST works. The raw message is kept in Redis that long, within MXHOOK_RAW_RETENTION_MAX_BYTES and MXHOOK_RAW_RETENTION_MEMORY (oldest dropped first; its links then answer 404).' }),
  logLevel: setting({ env: 'MXHOOK_LOG_LEVEL', flag: '--log-level', default: 'info', parse: (v: string) => {
    if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(v)) throw new Error(`expected trace, debug, info, warn, error, fatal or silent, got "${v}"`);
    return v;
  }, description: 'Log level of the JSON log lines on stdout.' }),
  dnsServers: setting({ env: 'MXHOOK_DNS_SERVERS', flag: '--dns-servers', default: undefined, parse: parseList,
    description: 'DNS servers mxhook doctor asks (comma list of IP or IP:port); unset: the system resolver.' }),
  publicAddresses: setting({ env: 'MXHOOK_PUBLIC_ADDRESSES', flag: '--public-addresses', default: undefined, parse: parseList,
    description: "This host's public IP addresses, which mxhook doctor expects the MX names to resolve to (comma list); unset: the machine's own non-loopback addresses (set it behind NAT)." }),
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
