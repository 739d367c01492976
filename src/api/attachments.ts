/**
 * Attachment download links of JSON POSTs: `GET .../attachments/{token}` serves one attachment of
 * a kept message. The signed token is the credential (apps fetch it without the API key): altered
 * or foreign tokens get 403, expired ones 410. Served as a download in a sandbox, never as a page
 * of the API's origin (the console lives there). Public, and each download reads the whole raw
 * message and parses it, so a process serves only a few at once: past them 503 with Retry-After.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from '../store/redis-client.ts';
import type { Readable } from 'node:stream';
import { ATTACHMENTS_PATH, checkAttachmentToken } from '../domain/attachment-token.ts';
import { MxhookError } from '../domain/errors.ts';
import { createAttachmentSecret, hasRawForLinks, rawForLinks } from '../store/attachment-links.ts';
import type { KeySpace } from '../store/keys.ts';
import type { ShardDirectory } from '../store/shards.ts';
import { sendMxhookError } from './errors.ts';
import { errorBody } from './schemas.ts';

/** Finds attachment n of a raw message (parse/attachment-extract.ts, injected: api does not parse). */
export type ExtractAttachment = (raw: Buffer, part: number) => Promise<{ filename: string; contentType: string; size: number; body: Buffer | Readable } | undefined>;

const DEFAULT_MAX_CONCURRENT = 4;

export function registerAttachmentRoutes(app: FastifyInstance, deps: { redis: Redis; keys: KeySpace; shards: ShardDirectory; extract: ExtractAttachment; maxConcurrent?: number }): void {
  const secret = createAttachmentSecret(deps.redis, deps.keys);
  const max = deps.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  let serving = 0;
  app.get<{ Params: { token: string } }>(`${ATTACHMENTS_PATH}/:token`, {
    config: { public: true },
    schema: {
      tags: ['attachments'], security: [],
      summary: 'Download an attachment a JSON POST listed by link (no API key: the signed token is the credential)',
      params: { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: 200 } } },
      response: { 403: errorBody, 404: errorBody, 410: errorBody, 503: errorBody },
    },
  }, async (request, reply) => {
    if (serving >= max) return sendMxhookError(reply.header('retry-after', '1'), new MxhookError('ATTACHMENT_BUSY'));
    serving++;
    // Held until the body is sent: a spooled attachment's stream releases it when it closes.
    let release: (() => void) | undefined = () => {
      release = undefined;
      serving--;
    };
    try {
      const checked = checkAttachmentToken(await secret(), request.params.token, Date.now() / 1000);
      if ('error' in checked) throw new MxhookError(checked.error === 'expired' ? 'ATTACHMENT_LINK_EXPIRED' : 'ATTACHMENT_LINK_INVALID');
      const { messageId } = checked.ok;
      const shard = await deps.shards.locate(messageId, (k) => hasRawForLinks(deps.redis, k, messageId));
      const raw = shard && await rawForLinks(deps.redis, shard, messageId);
      const found = raw && (await deps.extract(raw, checked.ok.part));
      if (!found) throw new MxhookError('ATTACHMENT_GONE');
      if (!Buffer.isBuffer(found.body)) {
        const done = release;
        release = undefined;
        found.body.once('close', done);
      }
      // eslint-disable-next-line no-control-regex
      const name = found.filename.replace(/[\x00-\x1f\x7f"\\]/g, '_');
      return reply.headers({
        'content-type': found.contentType.replace(/[\r\n]/g, '') || 'application/octet-stream',
        'content-length': String(found.size),
        'content-disposition': `attachment; filename="${name.replace(/[^\x20-\x7e]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`,
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
        'cache-control': 'private, no-store',
      }).send(found.body);
    } finally {
      release?.();
    }
  });
}
