/**
 * Attachment links on a Redis short of memory (this file's own redis-server, noeviction): a link
 * still downloads when Redis refuses every write (the signing secret is only read), and the raw
 * copies kept for links give way when Redis is above MXHOOK_RAW_RETENTION_MEMORY of maxmemory
 * (the worker's eviction deletes them; the link then answers 404, counted in /metrics).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApiApp } from './helpers/api-app.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
const ATTACHMENT = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 11 + 5) % 256));

let mx: TestMxhook;
let app: Receiver;

beforeAll(async () => {
  mx = suite.later(await startTestMxhook(suite.redis.socketPath));
  app = suite.later(await startReceiver());
  await mx.addRoute('full.example', app.url, { payload_format: 'json', json_attachment_max: 1024 });
  suite.afterwards(() => mx.redis.config('SET', 'maxmemory', '0'));
});

async function linkOf(to: string): Promise<string> {
  const before = app.posts.length;
  await sendMail(mx.smtpPort!, { from: 'a@sender.test', to, subject: to, text: 'see attached', attachments: [{ filename: 'a.bin', content: ATTACHMENT }] });
  await app.waitFor(before + 1);
  const post = app.posts.find((p, i) => i >= before && (p.json?.envelope as { to: string[] } | undefined)?.to[0] === to)!;
  return (post.json!.attachment1 as { download_url: string }).download_url;
}

const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await mx.redis.info('memory'))![1]);

describe('attachment links, Redis short of memory', () => {
  it('a valid link downloads while Redis refuses writes (maxmemory below used memory)', async () => {
    const link = await linkOf('one@full.example');
    await mx.redis.config('SET', 'maxmemory', '1');
    try {
      // Redis really refuses writes now.
      await expect(mx.redis.set(`${mx.keys.prefix}:probe`, 'x')).rejects.toThrow(/OOM/);
      const res = await fetch(link);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(ATTACHMENT);
      // A process that has not read the secret yet (a fresh API) reads it without writing.
      const fresh = suite.later(await buildTestApiApp(suite.redis.socketPath, 'full-key', mx.keys.prefix, {
        extractAttachment: async (raw, part) => {
          const { extractAttachment } = await import('../src/parse/attachment-extract.ts');
          return extractAttachment(raw, part, mx.config.dataDir);
        },
      }));
      const injected = await fresh.app.inject({ method: 'GET', url: new URL(link).pathname });
      expect(injected.statusCode).toBe(200);
      expect(injected.rawPayload).toEqual(ATTACHMENT);
    } finally {
      await mx.redis.config('SET', 'maxmemory', '0');
    }
  });

  it('link copies are evicted by the worker above MXHOOK_RAW_RETENTION_MEMORY of maxmemory; the link then 404, counted as attachment_memory', async () => {
    // The memory watch (read every second) has seen the earlier test's maxmemory go: else it may
    // still evict the link made next.
    const ratio = async () => Number(/^mxhook_redis_memory_used_ratio (\S+)/m.exec(await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text())?.[1]);
    await expect.poll(ratio, { timeout: 10_000 }).toBe(0);
    const link = await linkOf('two@full.example');
    expect((await fetch(link)).status).toBe(200);
    // Used memory at 80% of maxmemory: above the raw-retention share (0.7), below the high watermark (0.9).
    await mx.redis.config('SET', 'maxmemory', String(Math.ceil((await usedMemory()) / 0.8)));
    try {
      await expect.poll(async () => (await fetch(link)).status, { timeout: 15_000, interval: 200 }).toBe(404);
      const metrics = await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text();
      expect(Number(/^mxhook_message_log_dropped\{reason="attachment_memory"\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      await mx.redis.config('SET', 'maxmemory', '0');
    }
  }, 30_000);
});
