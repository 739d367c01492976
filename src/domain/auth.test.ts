import { describe, expect, it } from 'vitest';
import { authJsonField, sendgridDkimField, sendgridSpfField, unknownVerdicts, type AuthVerdicts } from './auth.ts';

const verdicts = (over: Partial<AuthVerdicts> = {}): AuthVerdicts => ({
  spf: { result: 'pass', domain: 'a.com', clientIp: '192.0.2.1', helo: 'mail.a.com', mailFrom: 'x@a.com' },
  dkim: [],
  dmarc: { result: 'none' },
  arc: { result: 'none' },
  header: 'Authentication-Results: mx.test; spf=pass',
  ...over,
});

describe('sendgridDkimField (SendGrid format, not JSON)', () => {
  it('one signature: {@domain : result}', () => {
    expect(sendgridDkimField(verdicts({ dkim: [{ domain: 'example.com', result: 'pass' }] }))).toBe('{@example.com : pass}');
  });
  it('several signatures, in message order, comma separated', () => {
    expect(sendgridDkimField(verdicts({ dkim: [{ domain: 'a.com', result: 'pass' }, { domain: 'b.com', result: 'fail' }] }))).toBe('{@a.com : pass, @b.com : fail}');
  });
  it('none when unsigned, temperror when the checks could not finish', () => {
    expect(sendgridDkimField(verdicts())).toBe('none');
    expect(sendgridDkimField(unknownVerdicts({ clientIp: '192.0.2.1', helo: 'h', mailFrom: '', authservId: 'mx.test', error: 'timeout' }))).toBe('temperror');
  });
});

describe('sendgridSpfField', () => {
  it('passes the RFC 7208 words through, lower case', () => {
    for (const word of ['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror']) {
      expect(sendgridSpfField(verdicts({ spf: { ...verdicts().spf, result: word.toUpperCase() } }))).toBe(word);
    }
  });
  it('maps anything else to permerror rather than inventing a word', () => {
    expect(sendgridSpfField(verdicts({ spf: { ...verdicts().spf, result: 'policy' } }))).toBe('permerror');
  });
});

describe('authJsonField and unknownVerdicts', () => {
  it('the auth field has every verdict but not the header text', () => {
    const json = JSON.parse(authJsonField(verdicts({ dkim: [{ domain: 'a.com', selector: 's', result: 'pass', aligned: true }] })));
    expect(json).toEqual({
      spf: { result: 'pass', domain: 'a.com', clientIp: '192.0.2.1', helo: 'mail.a.com', mailFrom: 'x@a.com' },
      dkim: [{ domain: 'a.com', selector: 's', result: 'pass', aligned: true }],
      dmarc: { result: 'none' },
      arc: { result: 'none' },
    });
  });
  it('unknown verdicts are temperror throughout, with one header line that cannot be split by the reason', () => {
    const v = unknownVerdicts({ clientIp: '192.0.2.1', helo: 'h', mailFrom: 'x@a.com', authservId: 'mx.test', error: 'bad (thing)\r\nInjected: yes' });
    expect(v.spf.result).toBe('temperror');
    expect(v.dmarc.result).toBe('temperror');
    expect(v.header).toMatch(/^Authentication-Results: mx\.test; spf=temperror \(/);
    expect(v.header).not.toMatch(/[\r\n]/);
  });
});
