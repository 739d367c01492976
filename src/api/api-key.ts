/** The API's bearer key: configured, or generated once and kept only as a hash in Redis. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from '../store/redis-client.ts';
import type { KeySpace } from '../store/keys.ts';

const hashApiKey = (key: string): Buffer => createHash('sha256').update(key).digest();

/**
 * Returns the hash to check requests against. With no configured key, the first process to start
 * generates one, stores its hash (SET NX, so concurrent starts agree) and gets the key back to print.
 */
export async function resolveApiKey(redis: Redis, keys: KeySpace, configured: string | undefined): Promise<{ hash: Buffer; generated?: string }> {
  if (configured) return { hash: hashApiKey(configured) };
  const candidate = `mxh_${randomBytes(24).toString('base64url')}`;
  const hash = hashApiKey(candidate);
  const stored = await redis.set(keys.apiKeyHash, hash.toString('hex'), 'NX');
  if (stored === 'OK') return { hash, generated: candidate };
  const existing = await redis.get(keys.apiKeyHash);
  if (!existing) throw new Error('API key hash vanished from Redis while starting');
  return { hash: Buffer.from(existing, 'hex') };
}

export function isAuthorized(header: string | undefined, expectedHash: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  return timingSafeEqual(hashApiKey(match[1]), expectedHash);
}
