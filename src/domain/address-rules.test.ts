import { describe, expect, it } from 'vitest';
import { matchAddressRule, routeRecipient, ruleUrl, type AddressRule } from './address-rules.ts';
import { deliveryOf, recipientsByHostname, ruleDeliveries, type StoredMessageMeta } from './message.ts';
import { validateParseSetting } from './route.ts';

const rules: AddressRule[] = [
  { match: 'support', action: 'deliver', url: 'https://a.example/support' },
  { match: 'reply+*', action: 'deliver', url: 'https://a.example/replies' },
  { match: 'sales-*', action: 'deliver', url: 'https://a.example/sales' },
  { match: 'sales-spam', action: 'drop' },
  { match: '*', action: 'drop' },
];

describe('address rules', () => {
  it('first match wins: exact, prefix, plus tag (the tag as written), catch-all', () => {
    expect(routeRecipient(rules, 'Support')).toEqual({ kind: 'deliver', rule: 'support' });
    expect(routeRecipient(rules, 'reply+AbC')).toEqual({ kind: 'deliver', rule: 'reply+*', mailboxHash: 'AbC' });
    expect(routeRecipient(rules, '"reply+x y"')).toEqual({ kind: 'deliver', rule: 'reply+*', mailboxHash: 'x y' });
    // Earlier rules win: sales-spam is taken by sales-* before its drop rule is tried.
    expect(routeRecipient(rules, 'sales-spam')).toEqual({ kind: 'deliver', rule: 'sales-*' });
    expect(routeRecipient(rules, 'anyone')).toEqual({ kind: 'drop', rule: '*' });
    expect(routeRecipient(rules.slice(0, 3), 'anyone')).toEqual({ kind: 'deliver' });
    expect(routeRecipient(undefined, 'support')).toEqual({ kind: 'deliver' });
  });

  it('a wildcard needs at least one character', () => {
    expect(matchAddressRule(rules.slice(0, 3), 'reply+')).toBeUndefined();
    expect(matchAddressRule(rules.slice(0, 3), 'sales-')).toBeUndefined();
  });

  it('a rule gone (or turned into drop) since the accept falls back to the hostname\'s url', () => {
    expect(ruleUrl(rules, 'support', 'https://fallback/')).toBe('https://a.example/support');
    expect(ruleUrl(rules, 'gone', 'https://fallback/')).toBe('https://fallback/');
    expect(ruleUrl(rules, '*', 'https://fallback/')).toBe('https://fallback/');
    expect(ruleUrl(rules, undefined, 'https://fallback/')).toBe('https://fallback/');
  });

  it('are validated with the route: lower-cased, action defaulted, url checked like the route url', () => {
    const ok = validateParseSetting({ hostname: 'p.example.com', url: 'https://a.example/', address_rules: [{ match: 'Help-*', url: 'https://b.example/' }] });
    expect(ok.setting?.address_rules).toEqual([{ match: 'help-*', action: 'deliver', url: 'https://b.example/' }]);
    const bad = validateParseSetting({ hostname: 'p.example.com', url: 'https://a.example/', address_rules: [{ match: 'x', url: 'http://[::ffff:169.254.169.254]/' }] });
    expect(bad.errors).toEqual([{ field: 'address_rules[0].url', message: 'url points at a metadata address, which is never allowed' }]);
    // A patch without address_rules keeps them; [] removes them.
    const kept = validateParseSetting({ spam_check: true }, ok.setting);
    expect(kept.setting?.address_rules).toHaveLength(1);
    expect(validateParseSetting({ address_rules: [] }, ok.setting).setting?.address_rules).toBeUndefined();
  });
});

describe('deliveries of a message', () => {
  const targets = [
    { hostname: 'a.example', recipients: ['support@a.example'], rule: 'support' },
    { hostname: 'a.example', recipients: ['x@a.example'] },
    { hostname: 'b.example', recipients: ['y@b.example'] },
  ];
  const meta = { mailFrom: '', clientIp: '', helo: '', receivedAt: 0, size: 0, recipients: recipientsByHostname(targets), ...ruleDeliveries(targets) } as StoredMessageMeta;

  it('keeps each delivery\'s own recipients beside the per-hostname list', () => {
    expect(meta.recipients).toEqual({ 'a.example': ['support@a.example', 'x@a.example'], 'b.example': ['y@b.example'] });
    expect(deliveryOf(meta, 'm.1', 'a.example')).toEqual(targets[0]);
    expect(deliveryOf(meta, 'm.2', 'a.example').recipients).toEqual(['x@a.example']);
    expect(deliveryOf(meta, 'm.3', 'b.example').recipients).toEqual(['y@b.example']);
  });

  it('messages without rules keep the per-hostname shape', () => {
    expect(ruleDeliveries(targets.slice(1))).toEqual({});
    const plain = { ...meta, deliveries: undefined };
    expect(deliveryOf(plain, 'm.1', 'a.example')).toEqual({ hostname: 'a.example', recipients: ['support@a.example', 'x@a.example'] });
  });
});
