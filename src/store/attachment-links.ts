/**
 * What attachment download links rest on in Redis: the server secret that signs them, made once
 * and shared by every process, and a copy of the raw message kept until the last link to it
 * expires (the message itself is deleted when its deliveries end, or by raw retention).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { KeySpace } from './keys.ts';

const secretKey = (keys: KeySpace) => `${keys.prefix}:att:secret`;
const rawCopyKey = (keys: KeySpace, messageId: string) => `${keys.prefix}:att:raw:${messageId}`;

/** The link-signing secret; made by whichever process asks first (SET NX), never changed after. */
export async function attachmentSecret(redis: Redis, keys: KeySpace): Promise<Buffer> {
  await redis.set(secretKey(keys), randomBytes(32).toString('base64'), 'NX');
  const stored = await redis.get(secretKey(keys));
  if (!stored) throw new Error('attachment link secret missing');
  return Buffer.from(stored, 'base64');
}

// KEYS: raw, copy. ARGV: expiry ms. A new copy gets the expiry; an existing one is only extended (GT).
const KEEP_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('COPY', KEYS[1], KEYS[2]) == 0 then return 0 end
  redis.call('PEXPIREAT', KEYS[2], ARGV[1])
  return 1
end
redis.call('PEXPIREAT', KEYS[2], ARGV[1], 'GT')
return 1`;

/** Keeps the message's raw bytes until `untilMs` for its links; false when the message is gone. */
export async function keepRawForLinks(redis: Redis, keys: KeySpace, messageId: string, untilMs: number): Promise<boolean> {
  return (await redis.eval(KEEP_SCRIPT, 2, keys.messageRaw(messageId), rawCopyKey(keys, messageId), untilMs)) === 1;
}

/** The raw bytes a link serves from: the kept copy, else the message while it is still stored. */
export async function rawForLinks(redis: Redis, keys: KeySpace, messageId: string): Promise<Buffer | undefined> {
  return (await redis.getBuffer(rawCopyKey(keys, messageId))) ?? (await redis.getBuffer(keys.messageRaw(messageId))) ?? undefined;
}
