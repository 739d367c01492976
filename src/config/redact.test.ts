import { describe, expect, it } from 'vitest';
import { maskUrlCredentials, maskUrlPassword, restoreMaskedPassword } from './redact.ts';

describe('maskUrlCredentials', () => {
  it.each([
    ['https://hook:s3cret@app.example/inbound', 'https://***@app.example/inbound'],
    ['redis://user:p@ss@host:6379/0', 'redis://***@host:6379/0'],
    ['redis://host:6379/0?password=hunter2&db=1', 'redis://host:6379/0?password=***&db=1'],
    ['http://app.example/a@b', 'http://app.example/a@b'],
    ['https://app.example/inbound', 'https://app.example/inbound'],
  ])('%s -> %s', (input, shown) => {
    expect(maskUrlCredentials(input)).toBe(shown);
  });
});

describe('maskUrlPassword', () => {
  it.each([
    ['https://hook:s3cret@app.example/inbound', 'https://hook:***@app.example/inbound'],
    ['https://hook:p%40ss@app.example/in?x=1', 'https://hook:***@app.example/in?x=1'],
    ['https://hook@app.example/inbound', 'https://hook@app.example/inbound'],
    ['https://app.example/inbound', 'https://app.example/inbound'],
    ['not a url', 'not a url'],
  ])('%s -> %s', (input, shown) => {
    expect(maskUrlPassword(input)).toBe(shown);
  });
});

describe('restoreMaskedPassword', () => {
  const stored = 'https://hook:s3cret@app.example/inbound';
  it('puts the stored URL back for the masked one, in a copy', () => {
    const body = { url: 'https://hook:***@app.example/inbound', enabled: false };
    const restored = restoreMaskedPassword(body, stored);
    expect(restored).toEqual({ url: stored, enabled: false });
    expect(body.url).toBe('https://hook:***@app.example/inbound');
  });

  it.each([
    [{ url: 'https://hook:other@app.example/inbound' }],
    [{ url: 'https://hook:***@elsewhere.example/inbound' }],
    [{ enabled: true }],
  ])('keeps any other body as sent: %j', (body) => {
    expect(restoreMaskedPassword(body, stored)).toEqual(body);
  });

  it('returns what is not an object as is', () => {
    for (const body of [null, 'x', ['url']]) expect(restoreMaskedPassword(body, stored)).toBe(body);
  });
});
