/**
 * Redis Cluster's hash-tag rule, in one place for the config check (a tagged prefix allows one
 * shard only) and the key spaces (store/shards.ts): the text between a key's first `{` and the
 * first `}` after it, when not empty, decides the key's slot.
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}
