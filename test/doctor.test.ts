/**
 * `mxhook doctor` against a real DNS server (dns2, UDP on loopback, records written here), a real
 * mxhook (SMTP port, Redis), a real HTTP receiver and a real certificate: a setup done right passes
 * with exit 0; MX elsewhere, no PTR, no MX, a dead URL, a certificate for another name and Redis
 * that may evict each fail with their fix, exit 1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import dns2 from 'dns2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { runDoctorCommand } from '../src/app/commands/doctor.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { makeServerCert, makeTestCa } from './helpers/tls.ts';

const { Packet } = dns2;
type Rr = { type: 'MX'; exchange: string; priority: number } | { type: 'A' | 'AAAA'; address: string } | { type: 'PTR'; domain: string };
const ZONE: Record<string, Rr[]> = {
  'good.test': [{ type: 'MX', exchange: 'mx1.test', priority: 10 }],
  'mx1.test': [{ type: 'A', address: '203.0.113.10' }],
  '10.113.0.203.in-addr.arpa': [{ type: 'PTR', domain: 'mx1.test' }],
  'elsewhere.test': [{ type: 'MX', exchange: 'mx2.test', priority: 10 }],
  'mx2.test': [{ type: 'A', address: '198.51.100.7' }],
  'noptr.test': [{ type: 'MX', exchange: 'mx3.test', priority: 10 }],
  'mx3.test': [{ type: 'A', address: '203.0.113.11' }],
  '11.113.0.203.in-addr.arpa': [{ type: 'PTR', domain: 'someone-else.example' }],
};

function startDns(): Promise<{ address: string; close: () => Promise<void> }> {
  const server = dns2.createServer({
    udp: true,
    handle: (request: any, send: (r: any) => void) => {
      const response = Packet.createResponseFromRequest(request);
      const [q] = request.questions;
      const records = ZONE[q.name.toLowerCase()];
      if (!records) response.header.rcode = 3; // NXDOMAIN
      for (const rr of records ?? []) {
        if (Packet.TYPE[rr.type] !== q.type) continue;
        response.answers.push({ name: q.name, type: q.type, class: Packet.CLASS.IN, ttl: 60, ...rr, type: q.type });
      }
      send(response);
    },
  });
  return server.listen({ udp: { port: 0, address: '127.0.0.1' } }).then((addresses: any) => ({
    address: `127.0.0.1:${addresses.udp.port}`,
    close: () => server.close(),
  }));
}

describe('mxhook doctor', () => {
  let dns: { address: string; close: () => Promise<void> };
  let redis: TestRedis;
  let mxhook: TestMxhook;
  let receiver: Receiver;
  let dir: string;
  let certFile: string;
  let otherCertFile: string;

  beforeAll(async () => {
    dns = await startDns();
    redis = await startTestRedis();
    mxhook = await startTestMxhook(redis.socketPath, [], ['smtp']);
    receiver = await startReceiver();
    dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-doctor-'));
    const ca = await makeTestCa();
    certFile = path.join(dir, 'mx1.pem');
    otherCertFile = path.join(dir, 'other.pem');
    await writeFile(certFile, (await makeServerCert(ca, 'mx1.test')).cert);
    await writeFile(otherCertFile, (await makeServerCert(ca, 'wrong.example')).cert);
  }, 60_000);
  afterAll(async () => {
    await mxhook?.close();
    await receiver?.close();
    await dns?.close();
    await redis?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function doctor(cert: string): Promise<{ code: number; out: string }> {
    const { config } = loadConfig([
      '--redis-url', redis.socketPath, '--redis-prefix', mxhook.keys.prefix, '--dns-servers', dns.address,
      '--public-addresses', '203.0.113.10,203.0.113.11', '--smtp-host', '127.0.0.1', '--smtp-port', String(mxhook.smtpPort), '--tls-cert', cert,
    ], {});
    let out = '';
    const code = await runDoctorCommand(config, { out: (t) => (out += t), err: (t) => (out += t) });
    return { code, out };
  }

  it('passes a setup done right: MX here, PTR back, certificate for the MX name, Redis safe, SMTP up, URL answering', async () => {
    await mxhook.addRoute('good.test', receiver.url);
    const { code, out } = await doctor(certFile);
    expect(out).toContain('[ok]   good.test: MX mx1.test (10) -> 203.0.113.10, this host');
    expect(out).toContain('[ok]   good.test: PTR of 203.0.113.10 is mx1.test');
    expect(out).toContain('[ok]   TLS certificate covers mx1.test');
    expect(out).toContain('[ok]   Redis append-only file is on');
    expect(out).toContain('[ok]   Redis maxmemory-policy is noeviction');
    expect(out).toMatch(new RegExp(`\\[ok\\] {3}SMTP port 127\\.0\\.0\\.1:${mxhook.smtpPort} answers: 220 `));
    expect(out).toMatch(/\[ok\] {3}good\.test: http:\/\/127\.0\.0\.1:\d+\/\S* answers/);
    expect(out).not.toContain('[FAIL]');
    expect(out.trimEnd().endsWith('all checks passed')).toBe(true);
    expect(code).toBe(0);
  });

  it('fails each broken part with its fix, exit 1', async () => {
    await mxhook.addRoute('elsewhere.test', receiver.url);
    await mxhook.addRoute('noptr.test', receiver.url);
    // A port nothing listens on any more.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const closedPort = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    await mxhook.addRoute('nomx.test', `http://127.0.0.1:${closedPort}/inbound`);
    await mxhook.redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      const { code, out } = await doctor(otherCertFile);
      expect(code).toBe(1);
      expect(out).toContain('[FAIL] elsewhere.test: MX mx2.test (10) -> 198.51.100.7, not this host (203.0.113.10, 203.0.113.11)');
      expect(out).toContain('[FAIL] noptr.test: PTR of 203.0.113.11 (11.113.0.203.in-addr.arpa) is someone-else.example, not mx3.test');
      expect(out).toContain('fix: ask your hosting provider to set the reverse DNS of 203.0.113.11 to mx3.test');
      expect(out).toContain('[FAIL] nomx.test: no MX record (ENOTFOUND)');
      expect(out).toContain(`[FAIL] nomx.test: http://127.0.0.1:${closedPort}/inbound does not answer (ECONNREFUSED)`);
      expect(out).toContain('[FAIL] TLS certificate does not cover the MX name mx1.test');
      expect(out).toContain('[FAIL] Redis maxmemory-policy is allkeys-lru');
      expect(out).toContain('fix: set maxmemory-policy noeviction');
      // The good route still passes beside them.
      expect(out).toContain('[ok]   good.test: PTR of 203.0.113.10 is mx1.test');
      expect(out).toMatch(/\n(\d+) problem\(s\) found\n$/);
      expect(Number(/(\d+) problem\(s\) found/.exec(out)![1])).toBe((out.match(/\[FAIL\]/g) ?? []).length);
    } finally {
      await mxhook.redis.config('SET', 'maxmemory-policy', 'noeviction');
    }
  });
});
