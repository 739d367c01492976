/**
 * `mxhook doctor`: checks what receiving mail depends on, for every route: MX records pointing at a
 * name whose A/AAAA is this host and whose PTR points back, the TLS certificate (names, expiry),
 * Redis's persistence settings, the SMTP port answering, each route's URL answering. Prints a
 * checklist with a fix per failure; exit 1 on any failure. DNS is `--dns-servers`, or the system's.
 */
import { Resolver } from 'node:dns/promises';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import type { Config } from '../../config/schema.ts';
import { maskUrlCredentials } from '../../config/redact.ts';
import { checkCertificate, checkRedisSettings, fail, formatChecklist, ok, reverseName, warn, type CheckResult } from '../../domain/doctor.ts';
import { createRouteRegistry } from '../../routes/registry.ts';
import { withRedis, type Output } from './with-redis.ts';

const TIMEOUT_MS = 5000;
const lower = (name: string) => name.toLowerCase().replace(/\.$/, '');

export function runDoctorCommand(config: Config, output: Output): Promise<number> {
  return withRedis(config, output, async (redis, keys) => {
    const resolver = new Resolver({ timeout: TIMEOUT_MS, tries: 2 });
    if (config.dnsServers?.length) resolver.setServers([...config.dnsServers]);
    const here = new Set(config.publicAddresses?.length ? config.publicAddresses : machineAddresses());
    const results: CheckResult[] = [];
    const mxNamesHere = new Set<string>();
    const routes = await createRouteRegistry(redis, keys).list();
    if (!routes.length) results.push(warn('no routes yet', 'add one: mxhook routes add HOSTNAME URL'));
    for (const route of routes) {
      results.push(...await checkMx(resolver, route.hostname, here, mxNamesHere));
      results.push(await checkUrl(route.hostname, route.url));
    }
    results.push(...await checkTls(config, [...mxNamesHere]));
    results.push(...checkRedisSettings(await redis.info()));
    results.push(await checkSmtpPort(config));
    output.out(formatChecklist(results));
    return results.some((r) => r.status === 'fail') ? 1 : 0;
  });
}

async function checkMx(resolver: Resolver, hostname: string, here: ReadonlySet<string>, mxNamesHere: Set<string>): Promise<CheckResult[]> {
  const hereList = [...here].join(', ') || 'none found';
  const mx = await resolver.resolveMx(hostname).catch((err: NodeJS.ErrnoException) => err);
  if (mx instanceof Error || mx.length === 0) {
    return [fail(`${hostname}: no MX record${mx instanceof Error ? ` (${mx.code})` : ''}`, `add "${hostname}. MX 10 <this host's name>." at your DNS provider`)];
  }
  const results: CheckResult[] = [];
  for (const { exchange, priority } of mx.sort((a, b) => a.priority - b.priority)) {
    const name = lower(exchange);
    const addresses = [
      ...await resolver.resolve4(name).catch(() => [] as string[]),
      ...await resolver.resolve6(name).catch(() => [] as string[]),
    ];
    const mine = addresses.filter((a) => here.has(a));
    if (!addresses.length) {
      results.push(fail(`${hostname}: MX ${name} (${priority}) has no A/AAAA record`, `add "${name}. A <this host's address>" (${hereList})`));
      continue;
    }
    if (!mine.length) {
      results.push(fail(`${hostname}: MX ${name} (${priority}) -> ${addresses.join(', ')}, not this host (${hereList})`,
        `point ${name}'s A/AAAA at this host, or the MX at a name that does (behind NAT, set MXHOOK_PUBLIC_ADDRESSES)`));
      continue;
    }
    results.push(ok(`${hostname}: MX ${name} (${priority}) -> ${mine.join(', ')}, this host`));
    mxNamesHere.add(name);
    for (const address of mine) {
      const ptr = await resolver.reverse(address).catch((err: NodeJS.ErrnoException) => err);
      const names = ptr instanceof Error ? [] : ptr.map(lower);
      results.push(names.includes(name)
        ? ok(`${hostname}: PTR of ${address} is ${name}`)
        : fail(`${hostname}: PTR of ${address} (${reverseName(address)}) is ${names.join(', ') || (ptr instanceof Error ? `missing (${ptr.code})` : 'empty')}, not ${name}: senders may refuse or junk mail`,
          `ask your hosting provider to set the reverse DNS of ${address} to ${name}`));
    }
  }
  return results;
}

async function checkUrl(hostname: string, url: string): Promise<CheckResult> {
  const shown = maskUrlCredentials(url);
  try {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    if (target.username || target.password) {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
      target.username = '';
      target.password = '';
    }
    const res = await fetch(target, { method: 'HEAD', headers, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
    // Any answer below 500 means something listens there (a POST endpoint may refuse HEAD).
    return res.status < 500 ? ok(`${hostname}: ${shown} answers (HEAD: ${res.status})`)
      : fail(`${hostname}: ${shown} answers ${res.status}`, 'check the app: POSTs to it would be retried, then dead-lettered');
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return fail(`${hostname}: ${shown} does not answer (${cause})`, 'start the app, or fix the route: mxhook routes rm HOSTNAME, then routes add HOSTNAME URL');
  }
}

async function checkTls(config: Config, mxNames: readonly string[]): Promise<CheckResult[]> {
  if (!config.tlsCert) {
    return [warn('no TLS certificate configured: STARTTLS uses a self-signed one (encrypted, not verifiable)',
      'set MXHOOK_TLS_CERT and MXHOOK_TLS_KEY to a certificate for the MX name (Let\'s Encrypt)')];
  }
  try {
    const cert = new X509Certificate(await readFile(config.tlsCert));
    return checkCertificate({ validTo: new Date(cert.validTo), matches: (name) => cert.checkHost(name) !== undefined }, mxNames, new Date());
  } catch (err) {
    return [fail(`TLS certificate ${config.tlsCert} does not load: ${(err as Error).message}`, 'point MXHOOK_TLS_CERT at a PEM certificate file')];
  }
}

function checkSmtpPort(config: Config): Promise<CheckResult> {
  const host = ['0.0.0.0', '::', ''].includes(config.smtpHost) ? '127.0.0.1' : config.smtpHost;
  const where = `SMTP port ${host}:${config.smtpPort}`;
  return new Promise((resolve) => {
    const socket = connect({ host, port: config.smtpPort, timeout: TIMEOUT_MS });
    let greeting = '';
    const done = (result: CheckResult) => { socket.destroy(); resolve(result); };
    socket.on('data', (d) => {
      greeting += d;
      if (greeting.includes('\n')) {
        done(greeting.startsWith('220') ? ok(`${where} answers: ${greeting.trim().slice(0, 60)}`)
          : fail(`${where} answers "${greeting.trim().slice(0, 60)}", not a 220 greeting`, 'is another program on this port?'));
      }
    });
    socket.on('timeout', () => done(fail(`${where} does not greet within ${TIMEOUT_MS / 1000} s`, 'is mxhook running (mxhook start)?')));
    socket.on('error', (err: NodeJS.ErrnoException) => done(fail(`${where} is not reachable (${err.code})`, 'start mxhook (mxhook start), or set --smtp-port to the port it listens on')));
  });
}

function machineAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flat().filter((i) => i && !i.internal).map((i) => i!.address);
}
