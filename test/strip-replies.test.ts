/**
 * strip_replies through the real pipeline (docs/payload.md, "Reply text"): replies in Gmail, Outlook,
 * Apple Mail and Thunderbird layouts, text and HTML, in English and other languages, sent over SMTP
 * and read from the POST by a busboy receiver; a route without the setting gets no new field.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { redisPerFile } from './helpers/suite.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { visibleText } from './helpers/html-text.ts';

interface Reply { id: string; kind: 'text' | 'html'; body: string; expected_text: string; expected_signature?: string }
const corpus = new Map((JSON.parse(readFileSync(new URL('../fixtures/replies/corpus.json', import.meta.url), 'utf8')) as Reply[]).map((r) => [r.id, r]));

/** A message's text and HTML alternatives, as each client sends them (same layout, same language). */
const MESSAGES: readonly (readonly [layout: string, text: string, html: string])[] = [
  ['Gmail, English', 'gmail-en', 'gmail-html-en'],
  ['Gmail, French', 'gmail-fr', 'gmail-html-fr'],
  ['Gmail, German', 'gmail-de', 'gmail-html-de'],
  ['Outlook desktop, English', 'outlook-original-message-en', 'outlook-desktop-html-en'],
  ['Outlook desktop, German', 'outlook-desktop-de', 'outlook-desktop-html-de'],
  ['Outlook on the web, French', 'outlook-desktop-fr', 'outlook-web-html-fr'],
  ['Apple Mail, English', 'ios-en', 'apple-mail-html-en'],
  ['Apple Mail, French', 'apple-mail-fr', 'apple-mail-html-fr'],
  ['Apple Mail (iOS), German', 'ios-de', 'ios-html-de'],
  ['Thunderbird, English', 'thunderbird-signature', 'thunderbird-html-en'],
  ['Thunderbird, Spanish', 'thunderbird-es', 'thunderbird-html-es'],
  ['Thunderbird, German (text only)', 'thunderbird-de', ''],
];

const suite = redisPerFile();
let mx: TestMxhook;
let app: Receiver;

beforeAll(async () => {
  mx = suite.later(await startTestMxhook(suite.redis.socketPath));
  app = suite.later(await startReceiver());
  await mx.addRoute('replies.example', app.url, { strip_replies: true });
  await mx.addRoute('plain.example', app.url);
});

async function deliver(to: string, subject: string, text: string, html: string | undefined): Promise<ReceivedPost> {
  await sendMail(mx.smtpPort!, { from: 'jane@sender.test', to, subject, text, ...(html ? { html } : {}) });
  await expect.poll(() => app.posts.some((p) => p.fields.subject === subject), { timeout: 15_000 }).toBe(true);
  return app.posts.find((p) => p.fields.subject === subject)!;
}

describe('strip_replies: true', () => {
  it.each(MESSAGES)('%s: stripped_text, stripped_signature and stripped_html', async (layout, textId, htmlId) => {
    const text = corpus.get(textId)!;
    const html = htmlId ? corpus.get(htmlId)! : undefined;
    const post = await deliver('support@replies.example', `Re: ${layout}`, text.body, html?.body);
    expect(post.fields.text).toContain(text.body.trim().split('\n').at(-1));
    expect(post.fields.stripped_text).toBe(text.expected_text);
    expect(post.fields.stripped_signature).toBe(text.expected_signature);
    if (html) {
      expect(visibleText(post.fields.stripped_html!)).toBe(html.expected_text);
      // The app still gets the whole message in `html`, the quote with it.
      expect(post.fields.html).toBe(html.body);
    } else {
      expect(post.fields).not.toHaveProperty('stripped_html');
    }
  });
});

describe('a route without strip_replies', () => {
  it('posts exactly SendGrid\'s fields, none of the stripped ones', async () => {
    const reply = corpus.get('gmail-en')!;
    const post = await deliver('support@plain.example', 'Re: plain route', reply.body, corpus.get('gmail-html-en')!.body);
    expect(post.fields.text).toContain('Does the new build work');
    expect(Object.keys(post.fields).filter((name) => name.startsWith('stripped'))).toEqual([]);
    expect(Object.keys(post.fields).sort()).toEqual(['SPF', 'auth', 'charsets', 'dkim', 'envelope', 'from', 'headers', 'html', 'sender_ip', 'subject', 'text', 'to', 'attachments'].sort());
  });
});
