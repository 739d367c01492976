import { describe, expect, it } from 'vitest';
import { batchRetryDelay, checkCustomArgs, validateEventDestination, webhookEventsOf, WEBHOOK_EVENTS } from './event-webhook.ts';

describe('webhookEventsOf', () => {
  it('makes one received per delivery of an accepted message, with its envelope', () => {
    const events = webhookEventsOf({
      event: 'message.accepted', timestamp: '2026-12-02T00:00:01.500Z', mxhook_message_id: 'm1', hostnames: ['a.example', 'b.example'],
      size: 10, from: 'A <a@x>', subject: 'hi', mail_from: 'a@x', recipients: { 'a.example': ['r@a.example'], 'b.example': ['s@b.example', 't@b.example'] },
    }, '1764633601500-0');
    expect(events).toEqual([
      expect.objectContaining({ event: 'received', timestamp: Date.parse('2026-12-02T00:00:01Z') / 1000, mxhook_event_id: '1764633601500-0.1', delivery_id: 'm1.1', hostname: 'a.example', envelope: { from: 'a@x', to: ['r@a.example'] }, routes: ['a.example', 'b.example'] }),
      expect.objectContaining({ event: 'received', mxhook_event_id: '1764633601500-0.2', delivery_id: 'm1.2', hostname: 'b.example', envelope: { from: 'a@x', to: ['s@b.example', 't@b.example'] } }),
    ]);
  });

  it('with address rules, one received per listed delivery: its own id, recipients, rule and mailbox hash', () => {
    const events = webhookEventsOf({
      event: 'message.accepted', timestamp: '2026-12-02T00:00:01.500Z', mxhook_message_id: 'm1', hostnames: ['a.example', 'b.example'],
      mail_from: 'a@x', recipients: { 'a.example': ['support@a.example', 'reply+t1@a.example', 'bob@a.example'], 'b.example': ['s@b.example'] },
      deliveries: [
        { id: 'm1.1', hostname: 'a.example', recipients: ['support@a.example'], rule: 'support' },
        { id: 'm1.2', hostname: 'a.example', recipients: ['reply+t1@a.example'], rule: 'reply+*', mailbox_hash: 't1' },
        { id: 'm1.3', hostname: 'a.example', recipients: ['bob@a.example'] },
        { id: 'm1.4', hostname: 'b.example', recipients: ['s@b.example'] },
      ],
    }, '1764633601500-0');
    expect(events.map((e) => [e.delivery_id, e.hostname, (e.envelope as { to: string[] }).to, e.address_rule, e.mailbox_hash])).toEqual([
      ['m1.1', 'a.example', ['support@a.example'], 'support', undefined],
      ['m1.2', 'a.example', ['reply+t1@a.example'], 'reply+*', 't1'],
      ['m1.3', 'a.example', ['bob@a.example'], undefined, undefined],
      ['m1.4', 'b.example', ['s@b.example'], undefined, undefined],
    ]);
  });

  it('maps delivery states and leaves out the ones with no webhook event', () => {
    const base = { timestamp: '2026-12-02T00:00:00.000Z', mxhook_message_id: 'm1', delivery_id: 'm1.1', hostname: 'a.example' };
    expect(webhookEventsOf({ ...base, event: 'delivery.delivered', attempt: 2, status: 204, duration_ms: 5 }, '1-0')[0]).toMatchObject({ event: 'delivered', attempt: 2, status: 204 });
    expect(webhookEventsOf({ ...base, event: 'delivery.retrying', attempt: 1, error: 'ECONNREFUSED', next_attempt_at: '2026-12-02T00:05:00.000Z' }, '1-0')[0])
      .toEqual(expect.objectContaining({ event: 'deferred', error: 'ECONNREFUSED', next_attempt_at: Date.parse('2026-12-02T00:05:00Z') / 1000 }));
    expect(webhookEventsOf({ ...base, event: 'delivery.dead-lettered', reason: 'HTTP 400', attempts: 1 }, '1-0')[0]).toMatchObject({ event: 'dead_lettered', reason: 'HTTP 400', attempts: 1 });
    expect(webhookEventsOf({ ...base, event: 'delivery.replayed', replayed_as: 'm2.1', via: 'replay' }, '1-0')[0]).toMatchObject({ event: 'replayed', new_delivery_id: 'm2.1' });
    expect(webhookEventsOf({ ...base, event: 'delivery.replayed', replayed_as: 'm2.1', via: 'redeliver' }, '1-0')[0].event).toBe('redelivered');
    expect(webhookEventsOf({ ...base, event: 'route.circuit_open', origin: 'https://a', open_until: '2026-12-02T00:00:30.000Z' }, '1-0')[0]).toMatchObject({ event: 'route_circuit_open', open_until: Date.parse('2026-12-02T00:00:30Z') / 1000 });
    expect(webhookEventsOf({ event: 'smtp.refused', timestamp: '2026-12-02T00:01:00.000Z', mxhook_message_id: '', reason: 'RELAY_DENIED', hostname: null, count: 4, minute: 1764633600 }, '1-0')[0])
      .toEqual(expect.objectContaining({ event: 'refused', mxhook_message_id: null, delivery_id: null, hostname: null, count: 4 }));
    for (const event of ['delivery.queued', 'delivery.delivering', 'delivery.attempt', 'something.else']) expect(webhookEventsOf({ ...base, event }, '1-0')).toEqual([]);
  });
});

describe('validateEventDestination', () => {
  it('defaults to enabled with every event, keeps the order of WEBHOOK_EVENTS, patches fields', () => {
    expect(validateEventDestination({ url: 'https://a.example/' })).toEqual({ value: { url: 'https://a.example/', enabled: true, events: WEBHOOK_EVENTS } });
    const made = validateEventDestination({ url: 'https://a.example/', events: ['delivered', 'received', 'delivered'] }).value!;
    expect(made.events).toEqual(['received', 'delivered']);
    expect(validateEventDestination({ enabled: false }, made).value).toEqual({ ...made, enabled: false });
  });

  it('names the field at fault', () => {
    expect(validateEventDestination([]).errors).toEqual([{ field: null, message: 'body must be a JSON object' }]);
    expect(validateEventDestination({ url: 'http://169.254.169.254/' }).errors?.[0].field).toBe('url');
    expect(validateEventDestination({ url: 'https://a.example/', events: 'delivered' }).errors?.[0].field).toBe('events');
    expect(validateEventDestination({ url: 'https://a.example/', x: 1 }).errors).toEqual([{ field: 'x', message: 'unknown field x' }]);
  });
});

describe('checkCustomArgs', () => {
  it('takes a flat string map, null as none, and refuses the rest with the reason', () => {
    expect(checkCustomArgs({ a: '1', 'b.c-d_e': '' })).toEqual({ a: '1', 'b.c-d_e': '' });
    expect(checkCustomArgs(null)).toEqual({});
    expect(checkCustomArgs({ a: true })).toMatch(/custom_args\.a must be a string .* got boolean/);
    expect(checkCustomArgs({ a: null })).toMatch(/got null/);
    expect(checkCustomArgs({ '': 'x' })).toMatch(/key "" must be/);
    expect(checkCustomArgs({ a: 'é'.repeat(5000) })).toMatch(/^custom_args is 10008 bytes as JSON; at most 10000 are allowed$/);
  });
});

describe('batchRetryDelay', () => {
  it('doubles from 1 s up to the cap, with jitter of a fifth either way', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4].map((n) => batchRetryDelay(n, 600_000, mid))).toEqual([1000, 2000, 4000, 8000]);
    expect(batchRetryDelay(40, 600_000, mid)).toBe(600_000);
    expect(batchRetryDelay(1, 600_000, () => 0)).toBe(800);
    expect(batchRetryDelay(1, 600_000, () => 1)).toBe(1200);
  });
});
