/** The worker's maker of attachment download links for JSON POSTs (deliver/attempt.ts asks it). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from '../store/redis-client.ts';
import type { Config } from '../config/schema.ts';
import { ATTACHMENTS_PATH, attachmentToken } from '../domain/attachment-token.ts';
import { createAttachmentSecret, keepRawForLinks } from '../store/attachment-links.ts';
import type { KeySpace } from '../store/keys.ts';
import { API_URL_FILE, isLoopbackUrl } from './api-url.ts';
import { rawBytesPerShard } from './message-log-options.ts';

/**
 * Download links of large attachments in JSON POSTs: signed tokens on the API (api/attachments.ts),
 * at MXHOOK_PUBLIC_URL or else the address this data directory's api role wrote at its start. That
 * address is a loopback one when the API binds a wildcard or loopback address: it serves only apps
 * on this machine, so a remote app gets an error (the delivery retried) instead of a dead link.
 * `keys`: the shard of the messages it links to.
 */
export function createAttachmentLinks(config: Config, store: Redis, shared: KeySpace, keys: KeySpace): (messageId: string, part: number, destination: string) => Promise<{ url: string; expiresAt: number }> {
  // The secret is shared (the API checks every shard's links); the raw copy is the message's shard's.
  const secret = createAttachmentSecret(store, shared);
  return async (messageId, part, destination) => {
    const expiresAt = Math.floor((Date.now() + config.attachmentUrlTtl) / 1000);
    const base = config.publicUrl ?? (await readFile(path.join(config.dataDir, API_URL_FILE), 'utf8').then((text) => text.trim(), () => undefined));
    if (!base) throw new Error('attachment links need the API\'s address: set MXHOOK_PUBLIC_URL (no api role runs with this data directory)');
    if (!config.publicUrl && isLoopbackUrl(base) && !isLoopbackUrl(destination)) {
      throw new Error(`attachment links need an address the app can reach: set MXHOOK_PUBLIC_URL (the API is known only as ${base}, on loopback)`);
    }
    const key = await secret();
    const kept = await keepRawForLinks(store, keys, messageId, expiresAt * 1000, rawBytesPerShard(config));
    if (kept === 'gone') throw new Error('the raw message is no longer stored');
    if (kept === 'too-large') throw new Error('the message is larger than MXHOOK_RAW_RETENTION_MAX_BYTES, which bounds the raw copies kept for attachment links');
    return { url: `${base}${ATTACHMENTS_PATH}/${attachmentToken(key, { messageId, part, expiresAt })}`, expiresAt };
  };
}
