/**
 * The message preview (GET .../messages/{id}/preview) through the real pipeline: it shows what the
 * route's app was POSTed, with the route's settings: the stripped_* fields with strip_replies (the
 * same values as the POST, multipart or JSON), which format is posted, and raw mode said.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { redisPerFile } from './helpers/suite.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';

interface Reply { id: string; body: string; expected_text: string }
const replies = JSON.parse(readFileSync(new URL('../fixtures/replies/corpus.json', import.meta.url), 'utf8')) as Reply[];
const reply = replies.find((r) => r.id === 'gmail-en')!;

const suite = redisPerFile();
let mx: TestMxhook;
let app: Receiver;

beforeAll(async () => {
  // Kept after delivery, so a delivered message can be previewed.
  mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--raw-retention', '1h']));
  app = suite.later(await startReceiver());
  await mx.addRoute('replies.example', app.url, { strip_replies: true });
  await mx.addRoute('json.example', app.url, { strip_replies: true, payload_format: 'json' });
  await mx.addRoute('raw.example', app.url, { strip_replies: true, send_raw: true });
  await mx.addRoute('plain.example', app.url);
});

const api = (path: string) => fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks/parse${path}`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });

interface Preview { payload_format: string; send_raw: boolean; fields: Record<string, string> }

/** Sends the reply to `hostname`, waits for its POST, and answers it with the message's preview. */
async function deliverAndPreview(hostname: string): Promise<{ post: ReceivedPost; preview: Preview }> {
  const subject = `Re: preview ${hostname}`;
  await sendMail(mx.smtpPort!, { from: 'jane@sender.test', to: `support@${hostname}`, subject, text: reply.body });
  const sent = (p: ReceivedPost) => p.fields.subject === subject || (p.json as { subject?: string } | undefined)?.subject === subject || p.fields.email?.includes(subject);
  await expect.poll(() => app.posts.some(sent), { timeout: 15_000 }).toBe(true);
  const listed = await (await api(`/messages?hostname=${hostname}`)).json() as { result: { id: string }[] };
  expect(listed.result).toHaveLength(1);
  const res = await api(`/messages/${listed.result[0]!.id}/preview`);
  expect(res.status).toBe(200);
  return { post: app.posts.find(sent)!, preview: await res.json() as Preview };
}

describe('message preview', () => {
  it('strip_replies: shows the stripped fields the app was posted', async () => {
    const { post, preview } = await deliverAndPreview('replies.example');
    expect(post.fields.stripped_text).toBe(reply.expected_text);
    expect(preview).toMatchObject({ payload_format: 'multipart', send_raw: false });
    expect(preview.fields.stripped_text).toBe(post.fields.stripped_text);
    expect(preview.fields.stripped_signature).toBe(post.fields.stripped_signature);
  });

  it('payload_format json: says so, with the same fields as the JSON POST', async () => {
    const { post, preview } = await deliverAndPreview('json.example');
    expect(preview.payload_format).toBe('json');
    const json = post.json as { stripped_text?: string };
    expect(json.stripped_text).toBe(reply.expected_text);
    expect(preview.fields.stripped_text).toBe(json.stripped_text);
  });

  it('raw mode: says the raw message is posted; no stripped fields (the worker adds none)', async () => {
    const { post, preview } = await deliverAndPreview('raw.example');
    expect(post.fields).not.toHaveProperty('stripped_text');
    expect(preview).toMatchObject({ payload_format: 'multipart', send_raw: true });
    expect(Object.keys(preview.fields).filter((name) => name.startsWith('stripped'))).toEqual([]);
  });

  it('a route without the settings: SendGrid\'s fields only', async () => {
    const { preview } = await deliverAndPreview('plain.example');
    expect(preview).toMatchObject({ payload_format: 'multipart', send_raw: false });
    expect(preview.fields.text).toContain(reply.body.trim().split('\n')[0]);
    expect(Object.keys(preview.fields).filter((name) => name.startsWith('stripped'))).toEqual([]);
  });
});
