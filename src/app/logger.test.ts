import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactLogObject } from './logger.ts';

/** A logger writing into an array of parsed lines. */
function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger('info', sink) };
}

describe('createLogger redaction', () => {
  it.each(['apiKey', 'authorization', 'password', 'secret'])('never shows a string under %s, at the top or one object down', (key) => {
    const { lines, logger } = capture();
    logger.info({ event: 'x', [key]: 'Bearer hunter2', headers: { [key]: 'hunter2' } });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
    expect(lines[0]).toMatchObject({ [key]: '[redacted]', headers: { [key]: '[redacted]' } });
  });

  it('shows URLs with their credentials masked, the rest kept', () => {
    const { lines, logger } = capture();
    logger.info({ event: 'x', url: 'https://hook:s3cret@app.example/in', route: { url: 'https://app.example/in' }, redisUrl: 'redis://u:p@host:6379/0' });
    expect(lines[0]).toMatchObject({ url: 'https://***@app.example/in', route: { url: 'https://app.example/in' }, redisUrl: 'redis://***@host:6379/0' });
  });

  it('leaves other keys alone', () => {
    const { lines, logger } = capture();
    logger.info({ event: 'x', hostname: 'parse.example.com' });
    expect(lines[0]).toMatchObject({ event: 'x', hostname: 'parse.example.com' });
  });

  it('hands back the same object when there is nothing to hide (no copy per line), and never changes its input', () => {
    const plain = { event: 'delivery_attempt', target: 'https://app.example/in', nested: { hostname: 'h' }, list: [{ password: 'in an array' }] };
    expect(redactLogObject(plain)).toBe(plain);
    const secret = { event: 'x', headers: { authorization: 'Bearer t' } };
    const shown = redactLogObject(secret);
    expect(shown).toEqual({ event: 'x', headers: { authorization: '[redacted]' } });
    expect(secret.headers.authorization).toBe('Bearer t');
  });
});
