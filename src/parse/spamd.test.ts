import { describe, expect, it } from 'vitest';
import { parseSpamdResponse } from './spamd.ts';

const answer = (head: string, body = '') => Buffer.from(`${head}\r\n\r\n${body}`);

describe('parseSpamdResponse (SPAMD/1.1 REPORT answers)', () => {
  it('reads the score, the threshold, the verdict and the report', () => {
    const verdict = parseSpamdResponse(answer('SPAMD/1.1 0 EX_OK\r\nContent-length: 20\r\nSpam: True ; 1003.3 / 5.0', 'Content analysis ...\n'));
    expect(verdict).toEqual({ isSpam: true, score: '1003.3', threshold: '5.0', report: 'Content analysis ...\n' });
  });

  it('keeps negative and low scores as written', () => {
    expect(parseSpamdResponse(answer('SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.1 / 5.0')).score).toBe('-0.1');
    expect(parseSpamdResponse(answer('SPAMD/1.1 0 EX_OK\r\nSpam: no ; 2.7 / 5.0')).isSpam).toBe(false);
  });

  it('refuses error statuses, other protocols and answers without a Spam: header', () => {
    expect(() => parseSpamdResponse(answer('SPAMD/1.0 76 Bad header line: x'))).toThrow(/spamd error 76/);
    expect(() => parseSpamdResponse(answer('HTTP/1.1 200 OK'))).toThrow(/SPAMD/);
    expect(() => parseSpamdResponse(answer('SPAMD/1.1 0 EX_OK\r\nContent-length: 0'))).toThrow(/no Spam: header/);
    expect(() => parseSpamdResponse(Buffer.alloc(0))).toThrow();
  });
});
