/** `mxhook events` against a real redis-server: add (secret shown once), list, show, disable, enable, rm, precise refusals. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEventsCommand } from '../src/app/commands/events.ts';
import { loadConfig } from '../src/config/load.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';

let server: TestRedis;
const prefix = `t${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  server = await startTestRedis();
});
afterAll(async () => {
  await server?.cleanup();
});

async function run(args: string[], flags: string[] = []) {
  const { config } = loadConfig(['--redis-url', server.socketPath, '--redis-prefix', prefix, ...flags], {});
  let out = '';
  let err = '';
  const code = await runEventsCommand(config, args, { out: (t) => { out += t; }, err: (t) => { err += t; } });
  return { code, out, err };
}

describe('mxhook events', () => {
  it('adds, lists, shows, disables, enables and removes a destination', async () => {
    const added = await run(['add', 'https://hooks.example/events', 'delivered,dead_lettered']);
    expect(added.code).toBe(0);
    const [, id] = /^added (evd_[0-9a-f]{12}) -> https:\/\/hooks\.example\/events \(delivered, dead_lettered\)\nsigning secret \(shown once\): whsec_\S+\n$/.exec(added.out) ?? [];
    expect(id).toBeDefined();
    const list = await run(['list']);
    expect(list.out).toBe(`${id}\thttps://hooks.example/events\tenabled\tdelivered,dead_lettered\tbacklog 0\n`);
    expect(list.out).not.toContain('whsec_');
    expect(JSON.parse((await run(['show', id])).out)).toMatchObject({ id, enabled: true, events: ['delivered', 'dead_lettered'] });
    expect((await run(['disable', id])).out).toBe(`${id} disabled\n`);
    expect((await run(['list'])).out).toContain('\tdisabled\t');
    expect((await run(['enable', id])).out).toBe(`${id} enabled\n`);
    expect((await run(['rm', id])).out).toBe(`removed ${id}\n`);
    expect((await run(['list'])).out).toBe('');
  });

  it('refuses bad input precisely', async () => {
    const bad = await run(['add', 'ftp://hooks.example/']);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('mxhook: url: url must use http or https\n');
    const badEvent = await run(['add', 'https://hooks.example/', 'delivered,opened']);
    expect(badEvent.err).toMatch(/^mxhook: events: unknown event "opened"/);
    const missing = await run(['show', 'evd_000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe('mxhook: no event destination evd_000000000000\n');
    expect((await run(['bogus'])).code).toBe(2);
    // Event webhooks read the message log: with it off, none can be added.
    const off = await run(['add', 'https://hooks.example/'], ['--message-log', 'off']);
    expect(off.code).toBe(1);
    expect(off.err).toContain('need the message log');
  });
});
