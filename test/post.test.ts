/**
 * postForm against real HTTP servers on port 0: what an app's answer becomes (status, Retry-After,
 * the excerpt), and that the whole exchange is bounded however the app stalls or drips.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DESTINATION_REFUSED } from '../src/domain/destination-policy.ts';
import { createDeliveryAgent, postForm, postTarget, type PostOptions } from '../src/deliver/post.ts';

const options: PostOptions = { connectTimeoutMs: 1_000, requestTimeoutMs: 600, allowPrivateDestinations: true };
/** An agent whose own header and body timeouts are far longer: only postForm's whole-exchange timeout can end the wait. */
const patientAgent = () => createDeliveryAgent({ ...options, requestTimeoutMs: 30_000 });
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => { s.closeAllConnections(); s.close(resolve); })));
});

async function app(handler: http.RequestListener): Promise<{ url: string }> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?x=1` };
}

const form = (text: string) => {
  const body = Buffer.from(text);
  return { body, contentType: 'text/plain', contentLength: body.length };
};

describe('postForm', () => {
  it('returns the status, Retry-After and the first 512 bytes of the answer; the path, query and headers arrive', async () => {
    const seen: { url?: string; headers?: http.IncomingHttpHeaders; body?: string }[] = [];
    const target = await app((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(503, { 'retry-after': '120' });
        res.end(`busy ${'x'.repeat(5_000)}`);
      });
    });
    const agent = createDeliveryAgent(options);
    const result = await postForm(agent, postTarget(target.url), form('hello'), { 'x-test': 'yes' }, options);
    expect(result).toMatchObject({ kind: 'response', status: 503, retryAfter: '120' });
    expect(result.bodySnippet).toBe(`busy ${'x'.repeat(507)}`);
    expect(seen[0]).toMatchObject({ url: '/hook?x=1', body: 'hello', headers: { 'x-test': 'yes', 'content-type': 'text/plain' } });
    await agent.close();
  });

  it('sends the URL credentials as basic auth, not in the request line', async () => {
    let auth: string | undefined;
    const target = await app((req, res) => {
      auth = req.headers.authorization;
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const agent = createDeliveryAgent(options);
    const withCredentials = target.url.replace('http://', 'http://user:p%40ss@');
    const result = await postForm(agent, postTarget(withCredentials), form('x'), {}, options);
    expect(result).toMatchObject({ kind: 'response', status: 200 });
    expect(auth).toBe(`Basic ${Buffer.from('user:p@ss').toString('base64')}`);
    await agent.close();
  });

  it('an app that drips its answer a byte at a time is cut off at the request timeout (ETIMEDOUT)', async () => {
    const target = await app((req, res) => {
      req.resume();
      res.writeHead(200);
      const drip = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(drip));
    });
    const agent = patientAgent();
    const started = Date.now();
    const result = await postForm(agent, postTarget(target.url), form('x'), {}, options);
    expect(result).toMatchObject({ kind: 'error', code: 'ETIMEDOUT' });
    expect(Date.now() - started).toBeLessThan(options.requestTimeoutMs + 1_000);
    await agent.destroy();
  });

  it('an app that never answers is cut off at the request timeout; a refused connection says ECONNREFUSED', async () => {
    const target = await app(() => {});
    const agent = patientAgent();
    expect(await postForm(agent, postTarget(target.url), form('x'), {}, options)).toMatchObject({ kind: 'error', code: 'ETIMEDOUT' });
    expect(await postForm(agent, postTarget('http://127.0.0.1:1/hook'), form('x'), {}, options)).toMatchObject({ kind: 'error', code: 'ECONNREFUSED' });
    await agent.destroy();
  });

  it('an IP literal the destination policy forbids is refused without a connection', async () => {
    const agent = createDeliveryAgent({ ...options, allowPrivateDestinations: false });
    const result = await postForm(agent, postTarget('http://169.254.169.254/latest'), form('x'), {}, options);
    expect(result).toMatchObject({ kind: 'error', code: DESTINATION_REFUSED });
    await agent.close();
  });
});
