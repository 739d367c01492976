import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeSettings, loadConfig, redactConfig } from './load.ts';
import { settingsSchema } from './schema.ts';

describe('loadConfig defaults', () => {
  const { config, rest } = loadConfig([], {});

  it('applies every default, parsed', () => {
    expect(config.dataDir).toBe('./data');
    expect(config.redisPrefix).toBe('mxhook');
    expect(config.smtpHost).toBe('0.0.0.0');
    expect(config.smtpPort).toBe(2525);
    expect(config.maxMessageSize).toBe(30 * 1024 * 1024);
    expect(config.maxRecipients).toBe(100);
    expect(config.maxClients).toBe(1000);
    expect(config.reservedLocalParts).toEqual(['abuse', 'postmaster', 'unsubscribe']);
    expect(config.apiHost).toBe('0.0.0.0');
    expect(config.apiPort).toBe(8080);
    expect(config.workerConcurrency).toBe(32);
    expect(config.connectTimeout).toBe(10_000);
    expect(config.requestTimeout).toBe(30_000);
    expect(config.retryFastInterval).toEqual([300_000, 600_000]);
    expect(config.retryFastPhase).toBe(3_600_000);
    expect(config.retrySlowInterval).toEqual([7_200_000, 10_800_000]);
    expect(config.retryMaxAge).toBe(72 * 3_600_000);
    expect(config.deadLetterRetention).toBe(7 * 86_400_000);
    expect(config.messageTtl).toBe(8 * 86_400_000);
    expect(config.redisMemoryHigh).toBe(0.9);
    expect(config.logLevel).toBe('info');
    expect(config.logSmtp).toBe(false);
  });

  it('leaves settings without a default unset, except hostname which falls back to the machine name', () => {
    expect(config.redisUrl).toBeUndefined();
    expect(config.apiKey).toBeUndefined();
    expect(config.hostname).toBe(os.hostname());
    expect(rest).toEqual([]);
  });

  it('treats an empty env var as unset for settings that have no default', () => {
    const loaded = loadConfig([], { REDIS_URL: '', MXHOOK_API_KEY: '', MXHOOK_HOSTNAME: '' }).config;
    expect(loaded.redisUrl).toBeUndefined();
    expect(loaded.apiKey).toBeUndefined();
    expect(loaded.hostname).toBe(os.hostname());
  });

  it('lets an empty reserved list accept all local parts', () => {
    expect(loadConfig([], { MXHOOK_RESERVED_LOCAL_PARTS: '' }).config.reservedLocalParts).toEqual([]);
  });

  it('returns a frozen config', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { smtpPort: number }).smtpPort = 25;
    }).toThrow(TypeError);
    expect(config.smtpPort).toBe(2525);
  });
});

describe('loadConfig sources', () => {
  it('reads env vars', () => {
    const { config } = loadConfig([], {
      MXHOOK_SMTP_PORT: '25', MXHOOK_MAX_MESSAGE_SIZE: '10MB', MXHOOK_LOG_SMTP_PROTOCOL: 'yes',
      REDIS_URL: 'redis://localhost:6379/1', MXHOOK_HOSTNAME: 'mx.example.com',
    });
    expect(config.smtpPort).toBe(25);
    expect(config.maxMessageSize).toBe(10 * 1024 * 1024);
    expect(config.logSmtp).toBe(true);
    expect(config.redisUrl).toBe('redis://localhost:6379/1');
    expect(config.hostname).toBe('mx.example.com');
  });

  it('lets a flag win over the env var', () => {
    const { config } = loadConfig(['--smtp-port', '2626'], { MXHOOK_SMTP_PORT: '25' });
    expect(config.smtpPort).toBe(2626);
  });

  it('accepts --flag=value, keeping any later "=" in the value', () => {
    const { config } = loadConfig(
      ['--smtp-port=2727', '--redis-url=redis://h:6379/0?db=2', '--retry-fast-interval=1m-2m'],
      { MXHOOK_SMTP_PORT: '25' },
    );
    expect(config.smtpPort).toBe(2727);
    expect(config.redisUrl).toBe('redis://h:6379/0?db=2');
    expect(config.retryFastInterval).toEqual([60_000, 120_000]);
  });

  it('returns the command and operands as rest, in order, with --help', () => {
    const { config, rest } = loadConfig(['dead-letters', '--api-port', '9000', 'replay', 'abc', '--help'], {});
    expect(rest).toEqual(['dead-letters', 'replay', 'abc', '--help']);
    expect(config.apiPort).toBe(9000);
  });

  it('lets the last of two identical flags win', () => {
    expect(loadConfig(['--api-port', '1', '--api-port', '2'], {}).config.apiPort).toBe(2);
  });
});

describe('loadConfig errors', () => {
  it('refuses REDIS_URL and MXHOOK_REDIS_CLUSTER together, and shards with a {hash tag} prefix', () => {
    expect(() => loadConfig(['--redis-url', 'redis://r:6379', '--redis-cluster', 'a:7000,b:7001'], {})).toThrow(/set REDIS_URL or MXHOOK_REDIS_CLUSTER, not both/);
    expect(() => loadConfig(['--redis-prefix', '{mx}', '--shards', '2'], {})).toThrow(/MXHOOK_SHARDS .*above 1 needs MXHOOK_REDIS_PREFIX without a \{hash tag\}/);
    expect(loadConfig(['--redis-prefix', '{mx}', '--shards', '1'], {}).config.shards).toBe(1);
    expect(() => loadConfig(['--shards', '0'], {})).toThrow(/MXHOOK_SHARDS/);
    expect(() => loadConfig(['--shards', '257'], {})).toThrow(/from 1 to 256/);
  });

  it('keeps cluster seeds as written (a password may have capitals) and masks their credentials in the log line', () => {
    const { config } = loadConfig(['--redis-cluster', 'rediss://:PassWord@a:7000, b:7001'], {});
    expect(config.redisCluster).toEqual(['rediss://:PassWord@a:7000', 'b:7001']);
    expect(JSON.stringify(redactConfig(config))).not.toContain('PassWord');
  });

  it('refuses an unknown flag with a ConfigError naming it', () => {
    expect(() => loadConfig(['--smtp-prot', '25'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--smtp-prot', '25'], {})).toThrow(/--smtp-prot/);
    expect(() => loadConfig(['--bogus=1'], {})).toThrow(/unknown option --bogus/);
  });

  it('refuses a flag with no value', () => {
    expect(() => loadConfig(['--smtp-port'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--smtp-port'], {})).toThrow(/--smtp-port needs a value/);
  });

  it('names the env var and the flag when an env value is invalid', () => {
    let error: unknown;
    try {
      loadConfig([], { MXHOOK_SMTP_PORT: 'abc' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe('ConfigError');
    expect((error as Error).message).toContain('MXHOOK_SMTP_PORT');
    expect((error as Error).message).toContain('--smtp-port');
    expect((error as Error).message).toContain('"abc"');
  });

  it('names the env var and the flag when a flag value is invalid', () => {
    expect(() => loadConfig(['--max-message-size', 'huge'], {})).toThrow(/MXHOOK_MAX_MESSAGE_SIZE \(--max-message-size\)/);
    expect(() => loadConfig(['--log-level=loud'], {})).toThrow(/MXHOOK_LOG_LEVEL \(--log-level\)/);
    expect(() => loadConfig(['--retry-slow-interval', '3h-2h'], {})).toThrow(ConfigError);
    expect(() => loadConfig([], { MXHOOK_MAX_RECIPIENTS: '0' })).toThrow(/MXHOOK_MAX_RECIPIENTS/);
    expect(() => loadConfig(['--redis-memory-high', '1.5'], {})).toThrow(/MXHOOK_REDIS_MEMORY_HIGH/);
  });

  it('reads the memory watermark as a fraction or a percentage', () => {
    expect(loadConfig(['--redis-memory-high', '80%'], {}).config.redisMemoryHigh).toBe(0.8);
    expect(loadConfig([], { MXHOOK_REDIS_MEMORY_HIGH: '0.75' }).config.redisMemoryHigh).toBe(0.75);
    expect(() => loadConfig(['--redis-memory-high', '0.6'], {})).toThrow(/MXHOOK_RAW_RETENTION_MEMORY \(--raw-retention-memory\) must be below MXHOOK_REDIS_MEMORY_HIGH/);
    expect(loadConfig(['--redis-memory-high', '0.6', '--raw-retention-memory', '0.5'], {}).config.rawRetentionMemory).toBe(0.5);
  });

  it('refuses a message TTL that does not outlast the retry window (the last retries would find no message)', () => {
    expect(() => loadConfig(['--message-ttl', '72h'], {})).toThrow(/MXHOOK_MESSAGE_TTL \(--message-ttl\) must be longer than MXHOOK_RETRY_MAX_AGE/);
    expect(() => loadConfig(['--message-ttl', '1d', '--retry-max-age', '2d'], {})).toThrow(ConfigError);
    expect(loadConfig(['--message-ttl', '2d', '--retry-max-age', '1d'], {}).config.messageTtl).toBe(2 * 86_400_000);
  });
});

describe('redactConfig', () => {
  it('hides the API key', () => {
    const { config } = loadConfig(['--api-key', 's3cr3t-key'], {});
    const shown = redactConfig(config);
    expect(shown.apiKey).toBe('***');
    expect(JSON.stringify(shown)).not.toContain('s3cr3t-key');
  });

  it('masks the credentials of a redis URL and keeps the rest', () => {
    const { config } = loadConfig([], { REDIS_URL: 'redis://user:hunter2@redis.internal:6379/0' });
    expect(redactConfig(config).redisUrl).toBe('redis://***@redis.internal:6379/0');
  });

  it('masks a password-only rediss URL', () => {
    const { config } = loadConfig([], { REDIS_URL: 'rediss://:hunter2@redis.internal:6380' });
    expect(redactConfig(config).redisUrl).toBe('rediss://***@redis.internal:6380');
  });

  it('does not leak a password containing a raw "@" (ioredis accepts it)', () => {
    const { config } = loadConfig([], { REDIS_URL: 'redis://user:p@ss@redis.internal:6379/0' });
    expect(JSON.stringify(redactConfig(config))).not.toContain('ss@redis');
  });

  it('does not leak a password given as a query parameter (ioredis reads it)', () => {
    const { config } = loadConfig([], { REDIS_URL: 'redis://redis.internal:6379/0?password=hunter2' });
    expect(JSON.stringify(redactConfig(config))).not.toContain('hunter2');
  });

  it('shows a URL without credentials, unset secrets and non-secret settings unchanged', () => {
    const { config } = loadConfig(['--smtp-port', '25'], { REDIS_URL: '/tmp/redis.sock' });
    const shown = redactConfig(config);
    expect(shown.redisUrl).toBe('/tmp/redis.sock');
    expect(shown.apiKey).toBeUndefined();
    expect(shown.smtpPort).toBe(25);
    expect(shown.reservedLocalParts).toEqual(['abuse', 'postmaster', 'unsubscribe']);
    expect(Object.keys(shown).sort()).toEqual(Object.keys(settingsSchema).sort());
  });
});

describe('describeSettings', () => {
  const help = describeSettings();

  it('lists every flag and env var with its description', () => {
    for (const def of Object.values(settingsSchema)) {
      expect(help).toContain(def.flag);
      expect(help).toContain(def.env);
      expect(help).toContain(def.description);
    }
  });

  it('shows defaults where there are some', () => {
    expect(help).toContain('(default: 2525)');
    expect(help).toContain('(default: 30MB)');
    expect(help).toContain('(default: 5m-10m)');
  });

  it('gives each setting its own line starting with the flag', () => {
    const flagLines = help.split('\n').filter((line) => line.startsWith('  --'));
    expect(flagLines).toHaveLength(Object.keys(settingsSchema).length);
  });
});
