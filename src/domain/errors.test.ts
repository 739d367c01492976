import { describe, expect, it } from 'vitest';
import { errorCatalogue, MxhookError, smtpReplyFor, type ErrorCode } from './errors.ts';

describe('smtpReplyFor', () => {
  it('gives the basic code and a text starting with the enhanced code', () => {
    expect(smtpReplyFor('RELAY_DENIED')).toEqual({
      responseCode: 550,
      message: '5.7.1 Relay access denied: no parse route for this domain',
    });
    expect(smtpReplyFor('MESSAGE_TOO_BIG')).toEqual({
      responseCode: 552,
      message: '5.3.4 Message size exceeds the fixed maximum message size',
    });
    expect(smtpReplyFor('TOO_MANY_RECIPIENTS').responseCode).toBe(452);
    expect(smtpReplyFor('TOO_MANY_RECIPIENTS').message).toMatch(/^4\.5\.3 /);
    expect(smtpReplyFor('STORE_UNAVAILABLE')).toMatchObject({ responseCode: 451, message: expect.stringMatching(/^4\.3\.0 /) });
  });

  it('replaces the text with the detail, keeping the enhanced code first', () => {
    expect(smtpReplyFor('BAD_RECIPIENT', 'no such thing')).toEqual({ responseCode: 553, message: '5.1.3 no such thing' });
  });

  it('keeps the enhanced code class equal to the first digit of the basic code, for every SMTP entry', () => {
    for (const code of Object.keys(errorCatalogue) as ErrorCode[]) {
      const entry = errorCatalogue[code];
      if (!('smtp' in entry)) continue;
      const reply = smtpReplyFor(code);
      expect(reply.message).toMatch(/^[245]\.\d{1,3}\.\d{1,3} \S/);
      expect(reply.message[0]).toBe(String(reply.responseCode)[0]);
    }
  });

  it('throws for a code that has no SMTP reply', () => {
    expect(() => smtpReplyFor('NOT_FOUND')).toThrow(/NOT_FOUND has no SMTP reply/);
    expect(() => smtpReplyFor('UNAUTHORIZED')).toThrow();
  });
});

describe('MxhookError', () => {
  it('carries the code, the catalogue message and field errors', () => {
    const err = new MxhookError('VALIDATION_FAILED', { fieldErrors: [{ field: 'url', message: 'url is required' }] });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('MxhookError');
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toBe('invalid parse setting');
    expect(err.fieldErrors).toEqual([{ field: 'url', message: 'url is required' }]);
  });

  it('accepts a custom message and a cause', () => {
    const cause = new Error('boom');
    const err = new MxhookError('STORE_UNAVAILABLE', { message: 'redis down', cause });
    expect(err.message).toBe('redis down');
    expect(err.cause).toBe(cause);
    expect(err.fieldErrors).toEqual([]);
  });
});
