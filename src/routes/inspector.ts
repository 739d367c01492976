/**
 * The built-in inspector: a route made with `mxhook routes add HOST --inspect` POSTs to mxhook's
 * own API (`/inspect/<token>`), which keeps the last POSTs, parsed into their fields, in Redis for
 * `mxhook inspect HOST`. For trying mxhook before an app exists; not a delivery target for real mail.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Redis } from '../store/redis-client.ts';
import { INSPECT_PATH_PREFIX, INSPECT_VALUE_LIMIT, type InspectedField, type InspectedFile, type InspectedPost } from '../domain/inspection.ts';
import type { KeySpace } from '../store/keys.ts';
import type { SigningSecrets } from './signing-secrets.ts';

/** POSTs kept per inspector, newest first. */
export const INSPECT_KEEP = 20;
/** How long kept POSTs stay after the last one. */
const INSPECT_TTL_SECONDS = 7 * 24 * 3600;

const tokenKey = (keys: KeySpace, token: string) => `${keys.prefix}:inspect:${token}`;
const postsKey = (keys: KeySpace, token: string) => `${keys.prefix}:inspect:${token}:posts`;

export interface Inspector {
  /** Makes a token for a hostname; the route's URL is `inspectorUrl(base, token)`. */
  create(hostname: string): Promise<string>;
  /** The hostname a token belongs to, or undefined for an unknown token. */
  hostnameOf(token: string): Promise<string | undefined>;
  /** Parses and keeps one POST body. */
  record(token: string, hostname: string, headers: Record<string, string | string[] | undefined>, body: Buffer): Promise<InspectedPost>;
  /** Kept POSTs, oldest first. */
  list(token: string): Promise<InspectedPost[]>;
  /** Forgets a token and what it kept (its route was removed). */
  remove(token: string): Promise<void>;
}

export function inspectorUrl(base: string, token: string): string {
  return `${base.replace(/\/$/, '')}${INSPECT_PATH_PREFIX}${token}`;
}

export function createInspector(redis: Redis, keys: KeySpace, secrets: SigningSecrets): Inspector {
  return {
    async create(hostname) {
      const token = randomBytes(18).toString('base64url');
      await redis.set(tokenKey(keys, token), hostname);
      return token;
    },
    async hostnameOf(token) {
      return (await redis.get(tokenKey(keys, token))) ?? undefined;
    },
    async record(token, hostname, headers, body) {
      const header = (name: string) => { const v = headers[name]; return Array.isArray(v) ? v[0] : v; };
      const { fields, files } = await parseForm(header('content-type') ?? '', body);
      const post: InspectedPost = {
        receivedAt: new Date().toISOString(),
        hostname,
        deliveryId: header('x-mxhook-delivery-id'),
        attempt: header('x-mxhook-attempt'),
        bytes: body.length,
        signature: verifySignature(await secrets.keysFor(hostname), header('webhook-id'), header('webhook-timestamp'), header('webhook-signature'), body),
        fields,
        files,
      };
      await redis.multi()
        .lpush(postsKey(keys, token), JSON.stringify(post))
        .ltrim(postsKey(keys, token), 0, INSPECT_KEEP - 1)
        .expire(postsKey(keys, token), INSPECT_TTL_SECONDS)
        .exec();
      return post;
    },
    async list(token) {
      const raw = await redis.lrange(postsKey(keys, token), 0, -1);
      return raw.map((r) => JSON.parse(r) as InspectedPost).reverse();
    },
    async remove(token) {
      await redis.del(tokenKey(keys, token), postsKey(keys, token));
    },
  };
}

/** multipart/form-data read with the platform's own parser (fetch's Response.formData); a JSON POST (payload_format json) with JSON.parse. */
async function parseForm(contentType: string, body: Buffer): Promise<{ fields: InspectedField[]; files: InspectedFile[] }> {
  if (/^application\/json\b/i.test(contentType)) return parseJsonPost(body);
  const form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  const fields: InspectedField[] = [];
  const files: InspectedFile[] = [];
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') {
      fields.push(value.length > INSPECT_VALUE_LIMIT ? { name, value: value.slice(0, INSPECT_VALUE_LIMIT), truncated: true } : { name, value });
    } else {
      const bytes = Buffer.from(await value.arrayBuffer());
      files.push({ field: name, filename: value.name, type: value.type, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
  }
  return { fields, files };
}

/** A JSON POST's fields as text (objects as JSON), its `attachmentN` objects as files (a linked one as a field with its link). */
function parseJsonPost(body: Buffer): { fields: InspectedField[]; files: InspectedFile[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new TypeError(`not JSON either: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('a JSON POST is an object');
  const fields: InspectedField[] = [];
  const files: InspectedFile[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    const file = /^attachment\d+$/.test(name) && typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined;
    if (file && typeof file.content === 'string') {
      const bytes = Buffer.from(file.content, 'base64');
      files.push({ field: name, filename: String(file.filename ?? ''), type: String(file.type ?? ''), size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
      continue;
    }
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    fields.push(text.length > INSPECT_VALUE_LIMIT ? { name, value: text.slice(0, INSPECT_VALUE_LIMIT), truncated: true } : { name, value: text });
  }
  return { fields, files };
}

/** The check an app makes (docs/delivery.md, "Signed webhooks"): any v1 signature matching any route secret. */
function verifySignature(keys: readonly KeyObject[], id?: string, ts?: string, signature?: string, body?: Buffer): InspectedPost['signature'] {
  if (!signature || !id || !ts) return 'unsigned';
  const given = signature.split(' ').map((s) => Buffer.from(s.split(',')[1] ?? '', 'base64'));
  for (const key of keys) {
    const expected = createHmac('sha256', key).update(`${id}.${ts}.`).update(body ?? Buffer.alloc(0)).digest();
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return 'valid';
  }
  return 'invalid';
}
