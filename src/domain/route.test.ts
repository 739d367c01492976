import { describe, expect, it } from 'vitest';
import { effectiveRetryPolicy, validateParseSetting, type ParseSetting } from './route.ts';
import type { RetryPolicy } from './retry-policy.ts';

const fieldsOf = (result: ReturnType<typeof validateParseSetting>) => (result.errors ?? []).map((e) => e.field);

describe('validateParseSetting: create', () => {
  it('accepts hostname + url and fills the flags with false', () => {
    expect(validateParseSetting({ hostname: 'parse.example.com', url: 'https://app.example.com/inbound' })).toEqual({
      setting: { hostname: 'parse.example.com', url: 'https://app.example.com/inbound', spam_check: false, send_raw: false },
    });
  });

  it('normalises the hostname (case, trailing dot, IDN)', () => {
    expect(validateParseSetting({ hostname: 'Parse.Example.COM.', url: 'http://a.example/' }).setting?.hostname).toBe('parse.example.com');
    expect(validateParseSetting({ hostname: 'bücher.example', url: 'http://a.example/' }).setting?.hostname).toBe('xn--bcher-kva.example');
  });

  it('keeps booleans and a url with basic-auth credentials', () => {
    const result = validateParseSetting({ hostname: 'p.example.com', url: 'https://u:p@app.example.com/x?y=1', spam_check: true, send_raw: true });
    expect(result.setting).toEqual({ hostname: 'p.example.com', url: 'https://u:p@app.example.com/x?y=1', spam_check: true, send_raw: true });
  });

  it('requires hostname and url', () => {
    const result = validateParseSetting({});
    expect(result.setting).toBeUndefined();
    expect(result.errors).toEqual([
      { field: 'hostname', message: 'hostname is required' },
      { field: 'url', message: 'url is required' },
    ]);
  });

  it.each([123, '', null, true])('refuses the hostname %j', (hostname) => {
    expect(fieldsOf(validateParseSetting({ hostname, url: 'https://a.example/' }))).toEqual(['hostname']);
  });

  it.each(['localhost', 'not a host', 'a..example.com', '-x.example.com'])('refuses the invalid hostname %j', (hostname) => {
    const result = validateParseSetting({ hostname, url: 'https://a.example/' });
    expect(result.errors).toEqual([{ field: 'hostname', message: `invalid hostname: ${hostname}` }]);
  });

  it('refuses a hostname with a path or query rather than registering a truncated one', () => {
    for (const hostname of ['parse.example.com/inbound', 'parse.example.com?x=1']) {
      expect(fieldsOf(validateParseSetting({ hostname, url: 'https://a.example/' }))).toEqual(['hostname']);
    }
  });

  it('refuses a non-http url', () => {
    for (const url of ['ftp://files.example.com/x', 'file:///etc/passwd', 'javascript:alert(1)', 'mailto:a@b.example']) {
      expect(validateParseSetting({ hostname: 'p.example.com', url }).errors).toEqual([{ field: 'url', message: 'url must use http or https' }]);
    }
  });

  it('refuses something that is not a url', () => {
    for (const url of ['not a url', '/relative/path', 'app.example.com/hook']) {
      const result = validateParseSetting({ hostname: 'p.example.com', url });
      expect(fieldsOf(result)).toEqual(['url']);
      expect(result.errors?.[0].message).toMatch(/invalid url/);
    }
    expect(validateParseSetting({ hostname: 'p.example.com', url: 42 }).errors).toEqual([{ field: 'url', message: 'url is required' }]);
    // The API's schema and the event destinations' limit, for the CLI too.
    const long = `https://app.example/${'x'.repeat(4096)}`;
    expect(validateParseSetting({ hostname: 'p.example.com', url: long }).errors).toEqual([{ field: 'url', message: 'url is longer than 4096 characters' }]);
  });

  it.each(['true', 1, null, 'yes'])('refuses a non-boolean flag %j', (value) => {
    const result = validateParseSetting({ hostname: 'p.example.com', url: 'https://a.example/', spam_check: value, send_raw: value });
    expect(result.errors).toEqual([
      { field: 'spam_check', message: 'spam_check must be true or false' },
      { field: 'send_raw', message: 'send_raw must be true or false' },
    ]);
  });

  it('refuses unknown fields', () => {
    const result = validateParseSetting({ hostname: 'p.example.com', url: 'https://a.example/', spam: true, Hostname: 'x' });
    expect(result.errors).toEqual([
      { field: 'spam', message: 'unknown field spam' },
      { field: 'Hostname', message: 'unknown field Hostname' },
    ]);
  });

  it.each([null, 'text', 42, [], [{ hostname: 'p.example.com' }]])('refuses a body that is not an object: %j', (body) => {
    expect(validateParseSetting(body)).toEqual({ errors: [{ field: null, message: 'body must be a JSON object' }] });
  });

  it('reports every problem at once', () => {
    const result = validateParseSetting({ hostname: 'nope', url: 'ftp://x', send_raw: 'no', extra: 1 });
    expect(fieldsOf(result).sort()).toEqual(['extra', 'hostname', 'send_raw', 'url']);
  });
});

describe('validateParseSetting: retry_policy', () => {
  const base = { hostname: 'p.example.com', url: 'https://a.example/' };

  it('keeps a valid policy as written', () => {
    const retry_policy = { fast_interval: '1m-2m', fast_phase: '30m', slow_interval: '1h', max_age: '24h' };
    expect(validateParseSetting({ ...base, retry_policy }).setting?.retry_policy).toEqual(retry_policy);
  });

  it('drops an empty or null policy', () => {
    expect(validateParseSetting({ ...base, retry_policy: {} }).setting).not.toHaveProperty('retry_policy');
    expect(validateParseSetting({ ...base, retry_policy: null }).setting).not.toHaveProperty('retry_policy');
  });

  it.each([
    ['not an object', 'soon', /must be an object/],
    ['an array', ['5m'], /must be an object/],
    ['an unknown field', { fast_intervall: '5m' }, /unknown retry_policy field fast_intervall/],
    ['a number', { max_age: 3600 }, /retry_policy\.max_age must be a string/],
    ['a bad duration', { fast_phase: 'an hour' }, /retry_policy\.fast_phase: expected a duration/],
    ['a bad range', { slow_interval: '3h-2h' }, /retry_policy\.slow_interval: .*low end above its high end/],
  ])('refuses %s', (_what, retry_policy, message) => {
    const result = validateParseSetting({ ...base, retry_policy });
    expect(fieldsOf(result)).toEqual(['retry_policy']);
    expect(result.errors?.[0].message).toMatch(message);
  });
});

describe('validateParseSetting: patch', () => {
  const existing: ParseSetting = {
    hostname: 'parse.example.com', url: 'https://app.example.com/in', spam_check: true, send_raw: false,
    retry_policy: { max_age: '24h' },
  };

  it('keeps every field the patch does not name', () => {
    expect(validateParseSetting({ send_raw: true }, existing)).toEqual({ setting: { ...existing, send_raw: true } });
    expect(validateParseSetting({}, existing)).toEqual({ setting: existing });
  });

  it('changes the url', () => {
    expect(validateParseSetting({ url: 'http://new.example/x' }, existing).setting).toEqual({ ...existing, url: 'http://new.example/x' });
  });

  it('still validates a changed url and flags', () => {
    expect(fieldsOf(validateParseSetting({ url: 'ftp://x.example' }, existing))).toEqual(['url']);
    expect(fieldsOf(validateParseSetting({ url: '' }, existing))).toEqual(['url']);
    expect(fieldsOf(validateParseSetting({ spam_check: 'false' }, existing))).toEqual(['spam_check']);
  });

  it('refuses a hostname change', () => {
    const result = validateParseSetting({ hostname: 'other.example.com' }, existing);
    expect(result.errors).toEqual([{ field: 'hostname', message: 'hostname cannot be changed; delete the setting and create a new one' }]);
  });

  it('accepts the same hostname, however it is written', () => {
    expect(validateParseSetting({ hostname: 'PARSE.example.com.', spam_check: false }, existing).setting).toEqual({ ...existing, spam_check: false });
  });

  it('replaces or clears the retry policy', () => {
    expect(validateParseSetting({ retry_policy: { fast_interval: '1m' } }, existing).setting?.retry_policy).toEqual({ fast_interval: '1m' });
    expect(validateParseSetting({ retry_policy: null }, existing).setting).not.toHaveProperty('retry_policy');
  });

  it('refuses unknown fields in a patch too', () => {
    expect(fieldsOf(validateParseSetting({ colour: 'red' }, existing))).toEqual(['colour']);
  });
});

describe('effectiveRetryPolicy', () => {
  const base: RetryPolicy = { fastIntervalMs: [300_000, 600_000], fastPhaseMs: 3_600_000, slowIntervalMs: [7_200_000, 10_800_000], maxAgeMs: 259_200_000 };

  it('returns the base policy without overrides', () => {
    expect(effectiveRetryPolicy(base, undefined)).toBe(base);
    expect(effectiveRetryPolicy(base, {})).toEqual(base);
  });

  it('applies each override on top of the base', () => {
    expect(effectiveRetryPolicy(base, { fast_interval: '1m-2m', max_age: '24h' })).toEqual({
      ...base, fastIntervalMs: [60_000, 120_000], maxAgeMs: 86_400_000,
    });
    expect(effectiveRetryPolicy(base, { fast_phase: '30m', slow_interval: '1h' })).toEqual({
      ...base, fastPhaseMs: 1_800_000, slowIntervalMs: [3_600_000, 3_600_000],
    });
  });

  it('cuts a max_age past the stored message\'s lifetime to an hour before it expires', () => {
    const ttl = 8 * 86_400_000;
    expect(effectiveRetryPolicy(base, { max_age: '30d' }, ttl).maxAgeMs).toBe(ttl - 3_600_000);
    expect(effectiveRetryPolicy(base, { max_age: '7d' }, ttl).maxAgeMs).toBe(7 * 86_400_000);
    // Never below the server's own max age (the configuration makes the TTL exceed it).
    expect(effectiveRetryPolicy(base, { max_age: '30d' }, base.maxAgeMs + 60_000).maxAgeMs).toBe(base.maxAgeMs);
    expect(effectiveRetryPolicy(base, { max_age: '30d' }).maxAgeMs).toBe(30 * 86_400_000);
  });
});
