import { describe, expect, it } from 'vitest';
import { replicasPerPrimary } from './cluster-check.ts';
import { mergeMessagePages, type MessagePage } from './message-log-query.ts';
import { createShardSet, keySlot, shardTag, sumFields } from './shards.ts';
import type { LoggedMessage } from '../domain/message-log.ts';

describe('keySlot', () => {
  it('is Redis Cluster\'s CRC16 slot, hash tags included', () => {
    // Values as CLUSTER KEYSLOT answers them.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{foo}bar')).toBe(12182);
    expect(keySlot('somekey')).toBe(11058);
  });
});

describe('shardTag', () => {
  it('puts shard i of n in the i-th of n equal slot ranges, so every primary of an even cluster gets its share', () => {
    for (const n of [2, 3, 16, 64]) {
      for (let i = 0; i < n; i++) {
        const slot = keySlot(`x:{${shardTag(i, n)}}:y`);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((i * 16384) / n));
        expect(slot).toBeLessThan(Math.floor(((i + 1) * 16384) / n));
      }
    }
  });
});

describe('createShardSet', () => {
  it('keeps the prefix as it is with one shard on a single Redis', () => {
    const set = createShardSet('mxhook', 1, false);
    expect(set.shared.prefix).toBe('mxhook');
    expect(set.current.map((k) => k.prefix)).toEqual(['mxhook']);
  });

  it('shares {prefix} on a cluster, and gives each of several shards a hash tag of its own', () => {
    const set = createShardSet('mxhook', 4, true);
    expect(set.shared.prefix).toBe('{mxhook}');
    expect(set.current).toHaveLength(4);
    expect(new Set(set.current.map((k) => keySlot(k.messageRaw('m')))).size).toBe(4);
    // A message's keys are in one slot.
    const shard = set.current[set.shardOf('mx123')]!;
    expect(new Set([shard.messageRaw('mx123'), shard.messageMeta('mx123'), shard.acceptJournal].map(keySlot)).size).toBe(1);
  });

  it('keeps the shared space at the plain prefix on a single Redis whatever the shard count (routes stay where they are)', () => {
    expect(createShardSet('mxhook', 8, false).shared.prefix).toBe('mxhook');
  });

  it('places ids evenly and the same way every time', () => {
    const set = createShardSet('p', 16, true);
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[set.shardOf(`mx${i.toString(36)}abcdef`)]++;
    for (const n of counts) expect(n).toBeGreaterThan(700);
    expect(set.shardOf('mxabc')).toBe(createShardSet('p', 16, true).shardOf('mxabc'));
  });
});

describe('sumFields', () => {
  it('adds numeric fields up', () => {
    expect(sumFields([{ a: 1, b: 2 }, { a: 3, b: 0 }, { a: 0, b: 5 }])).toEqual({ a: 4, b: 7 });
  });
});

const message = (id: string) => ({ record: { id } }) as unknown as LoggedMessage;
const page = (items: [number, string][], nextCursor: string | null): MessagePage => ({
  result: items.map(([, id]) => message(id)), scores: items.map(([s]) => s), nextCursor,
});
const ids = (p: MessagePage) => p.result.map((m) => m.record.id);

describe('mergeMessagePages', () => {
  it('merges newest first and cuts at the limit', () => {
    const merged = mergeMessagePages([page([[9, 'a'], [5, 'c']], null), page([[7, 'b'], [3, 'd']], null)], 3);
    expect(ids(merged)).toEqual(['a', 'b', 'c']);
    expect(merged.nextCursor).toBe('5:c');
  });

  it('stops where a shard stopped early: nothing below it is shown before that shard has looked there', () => {
    // Shard 1 scanned down to 6 only (its page was full); shard 2 is exhausted.
    const merged = mergeMessagePages([page([[9, 'a'], [6, 'b']], '6:b'), page([[8, 'x'], [2, 'y']], null)], 10);
    expect(ids(merged)).toEqual(['a', 'x', 'b']);
    expect(merged.nextCursor).toBe('6:b');
  });

  it('orders ties by id, descending, as the index does', () => {
    const merged = mergeMessagePages([page([[5, 'b']], null), page([[5, 'c'], [5, 'a']], null)], 10);
    expect(ids(merged)).toEqual(['c', 'b', 'a']);
    expect(merged.nextCursor).toBeNull();
  });
});

describe('replicasPerPrimary', () => {
  it('counts each primary\'s connected replicas from CLUSTER NODES', () => {
    const nodes = [
      'a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460',
      'b1 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922',
      'c1 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected 10923-16383',
      'a2 127.0.0.1:7003@17003 slave a1 0 0 1 connected',
      'b2 127.0.0.1:7004@17004 slave,fail b1 0 0 2 disconnected',
    ].join('\n');
    expect(replicasPerPrimary(nodes)).toEqual(new Map([['127.0.0.1:7000', 1], ['127.0.0.1:7001', 0]]));
  });
});
