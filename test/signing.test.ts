/**
 * Signed POSTs (docs/delivery.md, "Signed webhooks"): Standard Webhooks HMAC with rotation, and SendGrid's ECDSA scheme,
 * verified by the receiving side with the published library and with node:crypto.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';

let redis: TestRedis;
let mx: TestMxhook;
let app: Receiver;
let secret: string;
let publicKey: string;

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks/parse${path}`, {
    method, headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
};

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath);
  app = await startReceiver();
  const created = await api('POST', '/settings', { hostname: 'signed.example', url: app.url, sendgrid_signature: true });
  expect(created.status).toBe(201);
  secret = created.body.signing_secret;
  publicKey = (await api('GET', '/signed')).body.public_key;
});
afterAll(async () => {
  await mx?.close();
  await app?.close();
  await redis?.cleanup();
});

/** Strict Standard Webhooks check over the exact body bytes, as the spec defines it. */
function standardSignatures(post: ReceivedPost, whsec: string, body = post.rawBody): boolean[] {
  const key = Buffer.from(whsec.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${post.headers['webhook-id']}.${post.headers['webhook-timestamp']}.`).update(body).digest();
  return String(post.headers['webhook-signature']).split(' ').map((entry) => {
    const [version, sig] = entry.split(',');
    const got = Buffer.from(sig, 'base64');
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

function sendgridSignatureValid(post: ReceivedPost, body = post.rawBody): boolean {
  const key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
  const ts = String(post.headers['x-twilio-email-event-webhook-timestamp']);
  const signature = Buffer.from(String(post.headers['x-twilio-email-event-webhook-signature']), 'base64');
  return verify('sha256', Buffer.concat([Buffer.from(ts), body]), { key, dsaEncoding: 'der' }, signature);
}

async function deliver(subject: string, extra: Record<string, unknown> = {}): Promise<ReceivedPost> {
  const before = app.posts.length;
  await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'in@signed.example', subject, text: 'signed body', ...extra });
  await app.waitFor(before + 1);
  return app.posts.find((p) => p.fields.subject === subject)!;
}

describe('Standard Webhooks signature', () => {
  it('is accepted by the standardwebhooks library and fails on a one-byte change', async () => {
    const post = await deliver('library check');
    expect(post.headers['webhook-id']).toBe(post.headers['x-mxhook-delivery-id']);
    expect(Math.abs(Number(post.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    const headers = {
      'webhook-id': String(post.headers['webhook-id']),
      'webhook-timestamp': String(post.headers['webhook-timestamp']),
      'webhook-signature': String(post.headers['webhook-signature']),
    };
    const wh = new Webhook(secret);
    // The library JSON-parses a verified payload; a multipart body is not JSON, which it reports
    // only after the signature matched. So: "no matching signature" is the failure to look for.
    const check = (body: Buffer) => {
      try {
        wh.verify(body, headers);
        return 'verified';
      } catch (err) {
        // After a matching signature the library JSON-parses the body: a SyntaxError means "verified".
        if (err instanceof SyntaxError) return 'verified';
        if (/No matching signature/i.test(String(err))) return 'bad signature';
        throw err;
      }
    };
    expect(check(post.rawBody)).toBe('verified');
    const tampered = Buffer.from(post.rawBody);
    tampered[tampered.indexOf('signed body')] ^= 0x01;
    expect(check(tampered)).toBe('bad signature');
  });

  it('covers the exact bytes, binary attachments included', async () => {
    const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) % 256));
    const post = await deliver('binary check', { attachments: [{ filename: 'b.bin', content: binary }] });
    expect(standardSignatures(post, secret)).toEqual([true]);
    const tampered = Buffer.from(post.rawBody);
    tampered[tampered.length - 100] ^= 0xff;
    expect(standardSignatures(post, secret, tampered)).toEqual([false]);
  });

  it('rotation: every active secret signs; a removed one stops signing', async () => {
    const added = await api('POST', '/settings/signed.example/secrets');
    expect(added.status).toBe(201);
    const both = await deliver('two secrets');
    const signatures = String(both.headers['webhook-signature']).split(' ');
    expect(signatures).toHaveLength(2);
    expect(standardSignatures(both, secret).filter(Boolean)).toHaveLength(1);
    expect(standardSignatures(both, added.body.secret).filter(Boolean)).toHaveLength(1);

    const list = await api('GET', '/settings/signed.example/secrets');
    expect(list.body.result).toHaveLength(2);
    expect(JSON.stringify(list.body)).not.toContain('whsec_');
    const oldId = list.body.result.find((s: { id: string }) => s.id !== added.body.id).id;
    expect((await api('DELETE', `/settings/signed.example/secrets/${oldId}`)).status).toBe(204);

    const one = await deliver('one secret');
    expect(standardSignatures(one, added.body.secret)).toEqual([true]);
    expect(standardSignatures(one, secret)).toEqual([false]);
    secret = added.body.secret;
  });
});

describe("SendGrid's ECDSA signature (per route)", () => {
  it('verifies with the public key from the API, and fails on a one-byte change', async () => {
    const post = await deliver('ecdsa check');
    expect(post.headers['x-twilio-email-event-webhook-timestamp']).toBe(post.headers['webhook-timestamp']);
    expect(sendgridSignatureValid(post)).toBe(true);
    const tampered = Buffer.from(post.rawBody);
    tampered[tampered.indexOf('signed body')] ^= 0x01;
    expect(sendgridSignatureValid(post, tampered)).toBe(false);

    // SendGrid's own helper, as apps that verify SendGrid's signature already use it.
    const { EventWebhook } = await import('@sendgrid/eventwebhook');
    const helper = new EventWebhook();
    const key = helper.convertPublicKeyToECDSA(publicKey);
    const sig = String(post.headers['x-twilio-email-event-webhook-signature']);
    const ts = String(post.headers['x-twilio-email-event-webhook-timestamp']);
    expect(helper.verifySignature(key, post.rawBody, sig, ts)).toBe(true);
    expect(helper.verifySignature(key, tampered, sig, ts)).toBe(false);
  });

  it('is absent on routes that did not ask for it', async () => {
    const plain = await startReceiver();
    try {
      await api('POST', '/settings', { hostname: 'plain.example', url: plain.url });
      await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'in@plain.example', subject: 'plain', text: 'x' });
      const [post] = await plain.waitFor(1);
      expect(post.headers['x-twilio-email-event-webhook-signature']).toBeUndefined();
      expect(post.headers['webhook-signature']).toMatch(/^v1,/);
    } finally {
      await plain.close();
    }
  });
});
