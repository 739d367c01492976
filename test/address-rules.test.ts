/**
 * Address rules end to end: real SMTP clients, the real server and workers, real receivers per
 * rule. Exact, prefix and plus-tag rules each reach their own URL with their own envelope.to; a
 * drop rule is answered 550 at RCPT; one message to several rules is fanned out, one delivery per
 * destination, and the message log and dead letters keep each delivery's rule and recipients.
 * The settings API's 400s for bad rules go through inject().
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApiApp, type TestApiApp } from './helpers/api-app.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail, SmtpLineClient } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';
import { getLoggedMessage } from '../src/store/message-log.ts';
import { getDeadLetter } from '../src/store/dead-letters.ts';

const suite = redisPerFile();
let mx: TestMxhook;
let fallback: Receiver;
let support: Receiver;
let sales: Receiver;
let replies: Receiver;
let broken: Receiver;
const HOST = 'rules.example.com';

beforeAll(async () => {
  mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--retry-max-age', '1s']));
  [fallback, support, sales, replies] = await Promise.all([0, 1, 2, 3].map(async () => suite.later(await startReceiver())));
  broken = suite.later(await startReceiver(() => ({ status: 400, body: 'no such ticket' })));
  await mx.addRoute(HOST, fallback.url, {
    address_rules: [
      { match: 'Support', url: support.url, action: 'deliver' },
      { match: 'sales-*', url: sales.url },
      { match: 'reply+*', url: replies.url, action: 'deliver' },
      { match: 'noreply', action: 'drop' },
      { match: 'broken', url: broken.url },
    ],
  });
});

const envelopeTo = (post: ReceivedPost) => (JSON.parse(post.fields.envelope!) as { to: string[] }).to;

/** Sends, then the POST with this subject at `receiver`. */
async function postAt(receiver: Receiver, subject: string): Promise<ReceivedPost> {
  await expect.poll(() => receiver.posts.some((p) => p.fields.subject === subject), { timeout: 15_000 }).toBe(true);
  return receiver.posts.find((p) => p.fields.subject === subject)!;
}

describe('address rules through the pipeline', () => {
  it('an exact rule (case-insensitive) goes to its own URL, not the hostname\'s', async () => {
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: `SUPPORT@${HOST}`, subject: 'exact rule', text: 'help' });
    const post = await postAt(support, 'exact rule');
    expect(envelopeTo(post)).toEqual([`SUPPORT@${HOST}`]);
    expect(post.fields.mailbox_hash).toBeUndefined();
    expect(fallback.posts.some((p) => p.fields.subject === 'exact rule')).toBe(false);
  });

  it('a wildcard rule matches by prefix; an address no rule matches goes to the hostname\'s url', async () => {
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: `sales-emea@${HOST}`, subject: 'wildcard rule', text: 'quote' });
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: `sales-@${HOST}`, subject: 'no rule', text: 'x' });
    expect(envelopeTo(await postAt(sales, 'wildcard rule'))).toEqual([`sales-emea@${HOST}`]);
    // `*` needs at least one character: `sales-` itself is nobody's, so the fallback takes it.
    expect(envelopeTo(await postAt(fallback, 'no rule'))).toEqual([`sales-@${HOST}`]);
  });

  it('a plus-tag rule gives the app the tag as mailbox_hash, as sent', async () => {
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: `reply+Tk7-42@${HOST}`, subject: 'plus tag', text: 'my answer' });
    const post = await postAt(replies, 'plus tag');
    expect(post.fields.mailbox_hash).toBe('Tk7-42');
    expect(envelopeTo(post)).toEqual([`reply+Tk7-42@${HOST}`]);
  });

  it('a drop rule is answered 550 5.1.1 at RCPT; the other recipients of the session are still taken', async () => {
    const { client } = await SmtpLineClient.connect(mx.smtpPort!);
    expect(await client.command('EHLO client.test')).toMatch(/^250/);
    expect(await client.command('MAIL FROM:<a@sender.test>')).toMatch(/^250/);
    expect(await client.command(`RCPT TO:<noreply@${HOST}>`)).toMatch(/^550 5\.1\.1 /);
    expect(await client.command(`RCPT TO:<"NoReply"@${HOST}>`)).toMatch(/^550 5\.1\.1 /);
    expect(await client.command(`RCPT TO:<someone@${HOST}>`)).toMatch(/^250/);
    expect(await client.command('DATA')).toMatch(/^354/);
    client.write('Subject: after a drop\r\n\r\nhello\r\n.\r\n');
    expect(await client.nextReply()).toMatch(/^250/);
    await client.command('QUIT');
    expect(envelopeTo(await postAt(fallback, 'after a drop'))).toEqual([`someone@${HOST}`]);
    // Counted as refusals of the route's hostname (the overview, `refused` events).
    await expect.poll(async () => {
      const res = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks/parse/overview`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });
      return ((await res.json()) as { refusals: unknown[] }).refusals;
    }, { timeout: 10_000 }).toContainEqual({ reason: 'RECIPIENT_DROPPED', hostname: HOST, count: 2 });
  });

  it('one message to addresses of different rules: one delivery per destination, each with its own envelope.to, all in the log', async () => {
    const info = await sendMail(mx.smtpPort!, {
      from: 'a@sender.test', to: [`support@${HOST}`, `sales-us@${HOST}`, `sales-eu@${HOST}`, `other@${HOST}`, `reply+a@${HOST}`, `reply+b@${HOST}`],
      subject: 'fan out', text: 'to everyone',
    });
    expect(envelopeTo(await postAt(support, 'fan out'))).toEqual([`support@${HOST}`]);
    expect(envelopeTo(await postAt(sales, 'fan out'))).toEqual([`sales-us@${HOST}`, `sales-eu@${HOST}`]);
    expect(envelopeTo(await postAt(fallback, 'fan out'))).toEqual([`other@${HOST}`]);
    // Each plus tag is its own delivery, so each POST has one mailbox_hash.
    await expect.poll(() => replies.posts.filter((p) => p.fields.subject === 'fan out').length, { timeout: 15_000 }).toBe(2);
    const tagged = replies.posts.filter((p) => p.fields.subject === 'fan out').map((p) => [p.fields.mailbox_hash, envelopeTo(p)]);
    expect(tagged.sort()).toEqual([['a', [`reply+a@${HOST}`]], ['b', [`reply+b@${HOST}`]]]);
    const ids = [support, sales, fallback, ...replies.posts.filter((p) => p.fields.subject === 'fan out').map(() => replies)]
      .map((r) => r.posts.find((p) => p.fields.subject === 'fan out')!.headers['x-mxhook-delivery-id']);
    expect(new Set(ids.slice(0, 3)).size).toBe(3);

    const messageId = /queued as (\S+)/.exec(info.response)![1]!;
    await expect.poll(async () => (await getLoggedMessage(mx.redis, mx.keys, messageId))?.deliveries.every((d) => d.state === 'delivered'), { timeout: 10_000 }).toBe(true);
    const logged = (await getLoggedMessage(mx.redis, mx.keys, messageId))!;
    expect(logged.deliveries.map((d) => [d.id, d.hostname, d.rule ?? null, d.recipients ?? null, d.url ?? null])).toEqual([
      [`${messageId}.1`, HOST, 'support', [`support@${HOST}`], support.url],
      [`${messageId}.2`, HOST, 'sales-*', [`sales-us@${HOST}`, `sales-eu@${HOST}`], sales.url],
      [`${messageId}.3`, HOST, null, [`other@${HOST}`], null],
      [`${messageId}.4`, HOST, 'reply+*', [`reply+a@${HOST}`], replies.url],
      [`${messageId}.5`, HOST, 'reply+*', [`reply+b@${HOST}`], replies.url],
    ]);
    expect(logged.record.recipients[HOST]).toHaveLength(6);
    // SendGrid's daily stats count the message once for its hostname; the route's counters count deliveries.
    const day = new Date(logged.record.receivedAt).toISOString().slice(0, 10);
    const before = Number(await mx.redis.hget(mx.keys.receivedStats(day), HOST));
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: [`support@${HOST}`, `other@${HOST}`], subject: 'counted once', text: 'x' });
    await postAt(fallback, 'counted once');
    expect(Number(await mx.redis.hget(mx.keys.receivedStats(day), HOST))).toBe(before + 1);
  });

  it('a rule delivery that fails for good is a dead letter with its rule and recipients; its replay goes to the rule\'s URL again', async () => {
    const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: [`broken@${HOST}`, `x@${HOST}`], subject: 'dies', text: 'x' });
    const messageId = /queued as (\S+)/.exec(info.response)![1]!;
    await postAt(fallback, 'dies');
    const deadId = `${messageId}.1`;
    await expect.poll(() => getDeadLetter(mx.redis, mx.keys, deadId), { timeout: 15_000 }).toBeTruthy();
    const dead = (await getDeadLetter(mx.redis, mx.keys, deadId))!;
    expect(dead).toMatchObject({ hostname: HOST, rule: 'broken', recipients: [`broken@${HOST}`] });
    broken.respondWith(() => ({ status: 200 }));
    const before = broken.posts.length;
    const res = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks/parse/dead-letters/${deadId}/replay`, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}` } });
    expect(res.status).toBe(202);
    const replayed = (await broken.waitFor(before + 1))[before]!;
    expect(replayed.headers['x-mxhook-replay-of']).toBe(deadId);
    expect(envelopeTo(replayed)).toEqual([`broken@${HOST}`]);
  });
});

describe('settings API: address_rules', () => {
  let api: TestApiApp;
  beforeAll(async () => {
    api = suite.later(await buildTestApiApp(suite.redis.socketPath, 'rules-key'));
  });
  const call = async (method: 'POST' | 'PATCH' | 'GET', url: string, body?: unknown) => {
    const res = await api.app.inject({ method, url: `/v3/user/webhooks/parse/settings${url}`, headers: { authorization: 'Bearer rules-key' }, ...(body ? { payload: body as object } : {}) });
    return { status: res.statusCode, body: JSON.parse(res.body || 'null') };
  };
  const create = (address_rules: unknown) => call('POST', '', { hostname: 'api-rules.example.com', url: 'https://app.example.com/in', address_rules });

  it.each([
    ['a bad match pattern', [{ match: 'sup*port', url: 'https://a.example/x' }], 'address_rules[0].match', /invalid match pattern/],
    ['a match with a domain', [{ match: 'support@example.com', url: 'https://a.example/x' }], 'address_rules[0].match', /local part only/],
    ['no match', [{ url: 'https://a.example/x' }], 'address_rules[0].match', /match is required/],
    ['a match twice', [{ match: 'a', url: 'https://a.example/x' }, { match: 'A', action: 'drop' }], 'address_rules[1].match', /appears twice/],
    ['a bad url', [{ match: 'a', url: 'ftp://a.example/x' }], 'address_rules[0].url', /http or https/],
    ['a metadata url', [{ match: 'a', url: 'http://169.254.169.254/latest' }], 'address_rules[0].url', /metadata address/],
    ['a deliver rule without url', [{ match: 'a' }], 'address_rules[0].url', /url is required/],
    ['a drop rule with a url', [{ match: 'a', action: 'drop', url: 'https://a.example/x' }], 'address_rules[0].url', /drop rule takes no url/],
    ['a bad action', [{ match: 'a', action: 'forward', url: 'https://a.example/x' }], 'address_rules[0].action', /"deliver" or "drop"/],
    ['an unknown field', [{ match: 'a', url: 'https://a.example/x', priority: 1 }], 'address_rules[0].priority', /unknown address rule field/],
    ['too many rules', Array.from({ length: 51 }, (_, i) => ({ match: `r${i}`, action: 'drop' })), 'address_rules', /too many address rules: 51, at most 50/],
    ['not an array', { match: 'a' }, 'address_rules', /array/],
  ])('400 for %s, naming the rule and field', async (_what, rules, field, message) => {
    const res = await create(rules);
    expect(res.status).toBe(400);
    const error = (res.body.errors as { field: string; message: string }[]).find((e) => e.field === field);
    expect(error, JSON.stringify(res.body)).toBeDefined();
    expect(error!.message).toMatch(message);
  });

  it('keeps valid rules in order, masks rule passwords, keeps them when a GET is PATCHed back, and removes rules with null', async () => {
    const rules = [{ match: 'reply+*', url: 'https://hook:pw@app.example.com/replies' }, { match: 'noreply', action: 'drop' }];
    const created = await create(rules);
    expect(created.status).toBe(201);
    expect(created.body.address_rules).toEqual([
      { match: 'reply+*', action: 'deliver', url: 'https://hook:***@app.example.com/replies' }, { match: 'noreply', action: 'drop' },
    ]);
    const got = await call('GET', '/api-rules.example.com');
    const patched = await call('PATCH', '/api-rules.example.com', { address_rules: got.body.address_rules });
    expect(patched.status).toBe(200);
    const stored = JSON.parse((await api.redis.hget(api.keys.routes, 'api-rules.example.com'))!);
    expect(stored.address_rules[0].url).toBe('https://hook:pw@app.example.com/replies');
    const removed = await call('PATCH', '/api-rules.example.com', { address_rules: null });
    expect(removed.body.address_rules).toBeUndefined();
  });
});
