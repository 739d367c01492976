/**
 * The event webhook end to end (docs/events.md): real SMTP in, a real app, a real event
 * destination; batches verified with @sendgrid/eventwebhook and standardwebhooks.
 */
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { EventWebhook } from '@sendgrid/eventwebhook';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logRefusal, publishRefusalMinute } from '../src/store/message-log-retention.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
let mx: TestMxhook;
let publicKey: string;

interface Event { event: string; timestamp: number; mxhook_event_id: string; mxhook_message_id: string | null; delivery_id: string | null; hostname: string | null; [k: string]: unknown }

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks${path}`, {
    method, headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
};

/** A destination on its own receiver; `secret` is its Standard Webhooks secret. */
async function destination(responder?: Parameters<typeof startReceiver>[0], events?: string[]) {
  const receiver = suite.later(await startReceiver(responder));
  const made = await api('POST', '/event/settings', { url: receiver.url, enabled: true, ...(events ? { events } : {}) });
  expect(made.status).toBe(201);
  return { receiver, id: made.body.id as string, secret: made.body.signing_secret as string };
}

/** Every event of the 2xx-answered batches, in arrival order. */
const eventsOf = (posts: readonly ReceivedPost[]): Event[] => posts.flatMap((p) => p.json as Event[]);

async function eventsFor(receiver: Receiver, predicate: (events: Event[]) => boolean, timeoutMs = 20_000): Promise<Event[]> {
  await expect.poll(() => predicate(eventsOf(receiver.posts)), { timeout: timeoutMs, interval: 100 }).toBe(true);
  return eventsOf(receiver.posts);
}

beforeAll(async () => {
  mx = await startTestMxhook(suite.redis.socketPath, ['--event-webhook-retry-max-interval', '300ms', '--breaker-cooldown', '200ms', '--raw-retention', '1h']);
  publicKey = (await api('GET', '/parse/signed')).body.public_key;
});
afterAll(async () => {
  await mx?.close();
});

describe('a delivered message', () => {
  it('arrives as received then delivered, signed for both verifiers, with the route\'s custom_args (never in the parsed POST)', async () => {
    const app = suite.later(await startReceiver());
    expect((await api('POST', '/parse/settings', { hostname: 'ok.example', url: app.url, custom_args: { tenant: 't-42', plan: 'gold' } })).status).toBe(201);
    const dest = await destination();
    await sendMail(mx.smtpPort!, { from: 'alice@sender.test', to: 'in@ok.example', subject: 'events please', text: 'hello' });
    const events = await eventsFor(dest.receiver, (all) => all.some((e) => e.event === 'delivered'));
    const mine = events.filter((e) => e.hostname === 'ok.example');
    expect(mine.map((e) => e.event)).toEqual(['received', 'delivered']);
    const [received, delivered] = mine;
    expect(received).toMatchObject({
      mxhook_message_id: expect.any(String), delivery_id: `${received.mxhook_message_id}.1`, hostname: 'ok.example',
      envelope: { from: 'alice@sender.test', to: ['in@ok.example'] }, routes: ['ok.example'], subject: 'events please', size: expect.any(Number),
      custom_args: { tenant: 't-42', plan: 'gold' },
    });
    expect(delivered).toMatchObject({ delivery_id: received.delivery_id, mxhook_message_id: received.mxhook_message_id, attempt: 1, status: 200, duration_ms: expect.any(Number), custom_args: { tenant: 't-42', plan: 'gold' } });
    expect(Math.abs(received.timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(Number.isInteger(received.timestamp)).toBe(true);
    expect(delivered.mxhook_event_id > received.mxhook_event_id).toBe(true);

    // The app's POST has its parsed fields and nothing of custom_args.
    const [post] = await app.waitFor(1);
    expect(post.fields.subject).toBe('events please');
    expect(post.rawBody.toString('latin1')).not.toContain('t-42');
    expect(post.rawBody.toString('latin1')).not.toContain('custom_args');

    const helper = new EventWebhook();
    const key = helper.convertPublicKeyToECDSA(publicKey);
    const wh = new Webhook(dest.secret);
    for (const batch of dest.receiver.posts) {
      expect(batch.headers['content-type']).toBe('application/json');
      const sig = String(batch.headers['x-twilio-email-event-webhook-signature']);
      const ts = String(batch.headers['x-twilio-email-event-webhook-timestamp']);
      expect(helper.verifySignature(key, batch.rawBody, sig, ts)).toBe(true);
      const headers = { 'webhook-id': String(batch.headers['webhook-id']), 'webhook-timestamp': String(batch.headers['webhook-timestamp']), 'webhook-signature': String(batch.headers['webhook-signature']) };
      expect(wh.verify(batch.rawBody.toString('utf8'), headers)).toEqual(batch.json);
      const tampered = Buffer.from(batch.rawBody);
      tampered[tampered.indexOf('"event"') + 2] ^= 0x01;
      expect(helper.verifySignature(key, tampered, sig, ts)).toBe(false);
      expect(() => wh.verify(tampered.toString('utf8'), headers)).toThrow(/signature/i);
    }
  });
});

/** A code block of docs/events.md between `<!-- name:start -->` and `<!-- name:end -->`. */
async function docSnippet(name: string): Promise<string> {
  const doc = await readFile(new URL('../docs/events.md', import.meta.url), 'utf8');
  const block = doc.slice(doc.indexOf(`<!-- ${name}:start -->`), doc.indexOf(`<!-- ${name}:end -->`));
  return block.replace(/^[\s\S]*?```\w*\n/, '').replace(/```\s*$/, '');
}

describe('a redelivered message', () => {
  it('yields redelivered, naming the new delivery, which then has its own received and delivered', async () => {
    const dest = await destination(undefined, ['received', 'delivered', 'redelivered']);
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'in@ok.example', subject: 'again please', text: 'x' });
    const first = (await eventsFor(dest.receiver, (all) => all.some((e) => e.event === 'delivered'))).find((e) => e.event === 'delivered')!;
    const again = await api('POST', `/parse/messages/${first.mxhook_message_id}/redeliver`);
    expect(again.status).toBe(202);
    const next = again.body.redelivered[0].new_delivery_id as string;
    const events = await eventsFor(dest.receiver, (all) => all.some((e) => e.event === 'delivered' && e.delivery_id === next));
    expect(events.find((e) => e.event === 'redelivered')).toMatchObject({ delivery_id: first.delivery_id, new_delivery_id: next, hostname: 'ok.example', custom_args: { tenant: 't-42', plan: 'gold' } });
    expect(events.filter((e) => e.delivery_id === next).map((e) => e.event)).toEqual(['received', 'delivered']);
    expect(events.find((e) => e.event === 'received' && e.delivery_id === next)?.replay_of).toBe(first.delivery_id);
  });
});

describe('the verification code in docs/events.md', () => {
  it('accepts a real batch in Node and in Python, and refuses a changed one', async () => {
    const dest = await destination(undefined, ['received']);
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'in@ok.example', subject: 'doc check', text: 'x' });
    await eventsFor(dest.receiver, (all) => all.some((e) => e.subject === 'doc check'));
    const batch = dest.receiver.posts[0];
    const headers = Object.fromEntries(Object.entries(batch.headers).map(([k, v]) => [k, String(v)]));
    const tampered = Buffer.from(batch.rawBody.toString('utf8').replace('doc check', 'doc chick'));

    // Node: the snippet as a module beside the tests, so its imports resolve from this checkout.
    const file = new URL(`./.doc-snippet-${randomBytes(4).toString('hex')}.mjs`, import.meta.url);
    await writeFile(file, await docSnippet('verify-node'));
    try {
      const { verifyBatch } = await import(file.href) as { verifyBatch: (b: Buffer, h: Record<string, string>, k: string, s: string) => unknown };
      expect(verifyBatch(batch.rawBody, headers, publicKey, dest.secret)).toEqual(batch.json);
      expect(() => verifyBatch(tampered, headers, publicKey, dest.secret)).toThrow();
    } finally {
      await rm(file, { force: true });
    }

    const python = `${await docSnippet('verify-python')}
import sys
case = json.load(sys.stdin)
print(json.dumps(verify_batch(base64.b64decode(case["body"]), case["headers"], case["key"], case["secret"])))`;
    const runPython = async (body: Buffer) => {
      const child = promisify(execFile)('python3', ['-c', python]);
      child.child.stdin!.end(JSON.stringify({ body: body.toString('base64'), headers, key: publicKey, secret: dest.secret }));
      return JSON.parse((await child).stdout);
    };
    expect(await runPython(batch.rawBody)).toEqual(batch.json);
    expect(await runPython(tampered)).toBeNull();
  });
});

describe('a failing app', () => {
  it('yields deferred events then dead_lettered (and the circuit opening); a replay yields replayed (and the circuit closing)', async () => {
    const app = suite.later(await startReceiver(() => ({ status: 503, body: 'down' })));
    expect((await api('POST', '/parse/settings', { hostname: 'fail.example', url: app.url, retry_policy: { max_age: '1500ms' } })).status).toBe(201);
    const dest = await destination(undefined, ['deferred', 'dead_lettered', 'replayed', 'delivered', 'route_circuit_open', 'route_circuit_closed']);
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'in@fail.example', subject: 'will fail', text: 'x' });
    const events = await eventsFor(dest.receiver, (all) => all.some((e) => e.event === 'dead_lettered' && e.hostname === 'fail.example'));
    const mine = events.filter((e) => e.hostname === 'fail.example' && !e.event.startsWith('route_'));
    expect(events.find((e) => e.event === 'route_circuit_open')).toMatchObject({ hostname: 'fail.example', origin: new URL(app.url).origin, open_until: expect.any(Number) });
    const names = mine.map((e) => e.event);
    expect(names.at(-1)).toBe('dead_lettered');
    expect(names.slice(0, -1).length).toBeGreaterThanOrEqual(1);
    expect(new Set(names.slice(0, -1))).toEqual(new Set(['deferred']));
    expect(mine[0]).toMatchObject({ attempt: 1, status: 503, next_attempt_at: expect.any(Number) });
    const dead = mine.at(-1)!;
    expect(dead).toMatchObject({ reason: expect.stringMatching(/gave up|503/), attempts: expect.any(Number) });
    expect(dead.attempts as number).toBeGreaterThanOrEqual(names.length - 1);

    app.respondWith(() => ({ status: 200 }));
    const replay = await api('POST', `/parse/dead-letters/${dead.delivery_id}/replay`);
    expect(replay.status).toBe(202);
    const newDelivery = replay.body.replayed[0].delivery_id as string;
    const after = await eventsFor(dest.receiver, (all) => all.some((e) => e.event === 'replayed'));
    const replayed = after.find((e) => e.event === 'replayed')!;
    expect(replayed).toMatchObject({ delivery_id: dead.delivery_id, hostname: 'fail.example', new_delivery_id: newDelivery });
    await eventsFor(dest.receiver, (all) => all.some((e) => e.event === 'delivered' && e.delivery_id === newDelivery));
    await eventsFor(dest.receiver, (all) => all.some((e) => e.event === 'route_circuit_closed' && e.hostname === 'fail.example'));
  });
});

describe('an event destination that is down for a while', () => {
  it('receives the backlog once it is up', async () => {
    let up = false;
    const app = suite.later(await startReceiver());
    expect((await api('POST', '/parse/settings', { hostname: 'later.example', url: app.url })).status).toBe(201);
    const dest = await destination(() => (up ? { status: 200 } : { status: 503 }), ['delivered']);
    for (let i = 0; i < 5; i++) await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'in@later.example', subject: `backlog ${i}`, text: 'x' });
    await app.waitFor(5);
    // It was tried (and refused) before coming up.
    await expect.poll(() => dest.receiver.posts.length, { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(async () => (await api('GET', `/event/settings/${dest.id}`)).body.backlog, { timeout: 10_000 }).toBe(5);
    const failedPosts = dest.receiver.posts.length;
    up = true;
    const accepted = () => eventsOf(dest.receiver.posts.slice(failedPosts)).filter((e) => e.hostname === 'later.example');
    await expect.poll(() => accepted().length, { timeout: 20_000 }).toBe(5);
    expect(new Set(accepted().map((e) => e.delivery_id)).size).toBe(5);
    await expect.poll(async () => (await api('GET', `/event/settings/${dest.id}`)).body.backlog, { timeout: 5000 }).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text();
    expect(Number(/^mxhook_event_webhook_posts_failed (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(Number(/^mxhook_event_webhook_events_sent (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(5);
  });
});

describe('SMTP refusals', () => {
  it('arrive as one refused event per reason and hostname for the minute, with the count', async () => {
    const dest = await destination(undefined, ['refused']);
    // Refused recipients through SMTP: counted in memory, written every 2 s.
    for (let i = 0; i < 3; i++) {
      await expect(sendMail(mx.smtpPort!, { from: 'spam@sender.test', to: `x${i}@nowhere.example`, subject: 's', text: 'x' })).rejects.toThrow(/550/);
    }
    const slot = Math.floor(Date.now() / 60_000);
    const minute = `${mx.keys.prefix}:log:refusals:m:${slot}`;
    await expect.poll(async () => mx.redis.hget(minute, 'RELAY_DENIED|nowhere.example'), { timeout: 10_000 }).toBe('3');
    // The dispatcher publishes a minute once it is over; here it is asked for this one at once.
    expect(await publishRefusalMinute(mx.redis, mx.keys, slot)).toBeGreaterThanOrEqual(1);
    expect(await publishRefusalMinute(mx.redis, mx.keys, slot)).toBe(0);
    const events = await eventsFor(dest.receiver, (all) => all.some((e) => e.event === 'refused'));
    expect(events.filter((e) => e.event === 'refused' && e.hostname === 'nowhere.example')).toEqual([
      expect.objectContaining({ reason: 'RELAY_DENIED', count: 3, minute: slot * 60, mxhook_message_id: null, delivery_id: null }),
    ]);
    // A counted refusal with no hostname (a connection refused) has hostname null.
    const pipe = mx.redis.pipeline();
    logRefusal(pipe, mx.keys, 'CONNECTION_LIMIT', undefined, (slot - 5) * 60_000, 7);
    await pipe.exec();
    await publishRefusalMinute(mx.redis, mx.keys, slot - 5);
    const more = await eventsFor(dest.receiver, (all) => all.some((e) => e.reason === 'CONNECTION_LIMIT'));
    expect(more.find((e) => e.reason === 'CONNECTION_LIMIT')).toMatchObject({ hostname: null, count: 7 });
  });
});
