import { describe, expect, it } from 'vitest';
import { isDeliveryId, newMessageId } from './message.ts';

describe('isDeliveryId', () => {
  it('accepts the ids deliveries get', () => {
    expect(isDeliveryId(`${newMessageId()}.1`)).toBe(true);
    expect(isDeliveryId('mhx2k1a0f3c9d2e1b4a5c6d7.12')).toBe(true);
  });

  it('refuses anything that could address another key (index names, separators, empty parts)', () => {
    for (const id of ['host:parse.example', 'hostnames', 'abc', 'abc.0', 'abc.', '.1', 'abc.1:raw', 'ABC.1', 'a b.1', 'abc.1.2', `${'a'.repeat(41)}.1`]) {
      expect(isDeliveryId(id), id).toBe(false);
    }
  });
});
