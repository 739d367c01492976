import { describe, expect, it } from 'vitest';
import {
  authSummary, headerSummary, matchesFilter, messageIdOf, statesLeadingTo, transition, truncateUtf8, type LoggedMessage,
} from './message-log.ts';

describe('delivery state transitions', () => {
  it('follows a delivery from queued through a retry to delivered', () => {
    expect(transition('queued', { kind: 'attempt-started' })).toBe('delivering');
    expect(transition('delivering', { kind: 'retry-scheduled', nextAttemptAt: 1 })).toBe('retrying');
    expect(transition('retrying', { kind: 'attempt-started' })).toBe('delivering');
    expect(transition('delivering', { kind: 'delivered' })).toBe('delivered');
  });

  it('ignores a late write after the delivery ended, except a replay', () => {
    expect(transition('delivered', { kind: 'attempt-started' })).toBeUndefined();
    expect(transition('dead-lettered', { kind: 'retry-scheduled', nextAttemptAt: 1 })).toBeUndefined();
    expect(transition('delivered', { kind: 'dead-lettered' })).toBeUndefined();
    expect(transition('dead-lettered', { kind: 'replayed', replayedAs: 'x.1' })).toBe('replayed');
    expect(transition('delivered', { kind: 'replayed', replayedAs: 'x.1' })).toBe('replayed');
    expect(transition('queued', { kind: 'replayed', replayedAs: 'x.1' })).toBeUndefined();
  });

  it('lists the states a target may be reached from (what the store checks)', () => {
    expect(statesLeadingTo('replayed').sort()).toEqual(['dead-lettered', 'delivered', 'replayed']);
    expect(statesLeadingTo('delivering')).not.toContain('delivered');
    expect(statesLeadingTo('dead-lettered')).toContain('queued');
  });
});

describe('record helpers', () => {
  it('takes From, Subject and Message-ID from the header block only, unfolded', () => {
    const raw = Buffer.from('Received: x\r\nFrom: "Jane" <j@x.org>\r\nSubject: Hello\r\n  world\r\nMessage-ID: <a@b>\r\n\r\nSubject: not this\r\n');
    expect(headerSummary(raw)).toEqual({ from: '"Jane" <j@x.org>', subject: 'Hello world', messageIdHeader: '<a@b>' });
    expect(headerSummary(Buffer.from('\r\nFrom: body'))).toEqual({});
    expect(headerSummary(Buffer.from('Subject: caf\u00e9\n\nx', 'utf8')).subject).toBe('caf\u00e9');
  });

  it('gets the message id from a delivery id', () => {
    expect(messageIdOf('mabc123.2')).toBe('mabc123');
  });

  it('cuts UTF-8 text on a character boundary', () => {
    expect(truncateUtf8('ab\u00e9', 3)).toBe('ab');
    expect(truncateUtf8('abc', 3)).toBe('abc');
  });

  it('summarises the verdicts as words', () => {
    expect(authSummary(undefined)).toBeUndefined();
    const auth = { spf: { result: 'pass', clientIp: '', helo: '', mailFrom: '' }, dkim: [{ domain: 'a', result: 'fail' }, { domain: 'b', result: 'pass' }], dmarc: { result: 'fail' }, arc: { result: 'none' }, header: '' };
    expect(authSummary(auth)).toEqual({ spf: 'pass', dkim: 'pass', dmarc: 'fail' });
    expect(authSummary({ ...auth, dkim: [] })!.dkim).toBe('none');
  });
});

describe('filters', () => {
  const message: LoggedMessage = {
    record: { id: 'm1', receivedAt: 1000, clientIp: '1.2.3.4', helo: 'h', mailFrom: 'bounce@sender.org', recipients: { 'a.example': ['Sales@a.example'], 'b.example': ['x@b.example'] }, size: 10 },
    deliveries: [
      { id: 'm1.1', hostname: 'a.example', state: 'delivered', updatedAt: 1, attempts: [] },
      { id: 'm1.2', hostname: 'b.example', state: 'retrying', updatedAt: 1, attempts: [] },
    ],
  };
  const decoded = { from: 'Jane <jane@sender.org>', subject: 'Your Invoice 42' };
  const match = (filter: Parameters<typeof matchesFilter>[2]) => matchesFilter(message, decoded, filter);

  it('matches state per hostname, recipients, sender and every subject word', () => {
    expect(match({})).toBe(true);
    expect(match({ hostname: 'a.example', state: 'delivered' })).toBe(true);
    expect(match({ hostname: 'a.example', state: 'retrying' })).toBe(false);
    expect(match({ state: 'retrying' })).toBe(true);
    expect(match({ hostname: 'c.example' })).toBe(false);
    expect(match({ recipient: 'sales@' })).toBe(true);
    expect(match({ recipient: 'nobody' })).toBe(false);
    expect(match({ sender: 'JANE@' })).toBe(true);
    expect(match({ sender: 'bounce@' })).toBe(true);
    expect(match({ subjectWords: ['invoice', '42'] })).toBe(true);
    expect(match({ subjectWords: ['invoice', '43'] })).toBe(false);
    expect(match({ since: 1001 })).toBe(false);
    expect(match({ until: 999 })).toBe(false);
    expect(match({ since: 1000, until: 1000 })).toBe(true);
  });
});
