/** The machine's description and the results table (stdout) for a bench run. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { versionOf, which } from './procs.mjs';

/** Share of CPU time busy over `ms` (from /proc/stat), before the bench adds its own load. */
export async function cpuBusy(ms = 1000) {
  const read = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: fields[3] + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
  };
  try {
    const a = read();
    await new Promise((resolve) => setTimeout(resolve, ms));
    const b = read();
    return Math.round((1 - (b.idle - a.idle) / (b.total - a.total)) * 100) / 100;
  } catch {
    return undefined;
  }
}

export function describeMachine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    redis: versionOf(which('redis-server') ?? 'redis-server', ['--version']),
    postfix: versionOf('/usr/sbin/postconf', ['-d', 'mail_version']) || 'unknown',
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

const mb = (bytes) => (bytes === undefined ? '-' : `${Math.round(bytes / 2 ** 20)} MB`);
const ms = (value) => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : '-');
const pct = (value) => `${(value * 100).toFixed(1)}%`;

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r, n) => {
    const line = r.map((cell, i) => String(cell).padEnd(widths[i])).join('  ');
    return n === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

export function formatResults(results) {
  const out = [];
  const throughput = results.scenarios.filter((s) => s.kind === 'throughput');
  if (throughput.length) {
    out.push(table([
      ['scenario', 'layout', 'messages', 'smtp-sink/s', 'accepted/s', 'delivered/s', 'ratio', 'target', 'met', 'exactly once', 'CPU ms/msg (mxhook + redis)', 'Redis cmds/msg'],
      ...throughput.map((s) => [
        s.id, s.layout, s.accepted, s.ceilingRate.toFixed(0), s.acceptRate.toFixed(0), s.endToEndRate.toFixed(0),
        pct(s.ratio), `>= ${pct(s.target)}`, s.met ? 'yes' : 'NO', s.exactlyOnce ? 'yes' : `NO (missing ${s.missing}, dup ${s.duplicates})`,
        `${sum(s.cpuMsPerMessage, (k) => k !== 'redis').toFixed(2)} + ${s.cpuMsPerMessage.redis.toFixed(2)}`,
        s.redisCommandsPerMessage === undefined ? '' : s.redisCommandsPerMessage.toFixed(0),
      ]),
    ]));
  }
  const latency = results.scenarios.filter((s) => s.kind === 'latency');
  if (latency.length) {
    out.push(table([
      ['scenario', 'layout', 'messages', 'sent/s', 'p50', 'p99', 'max', 'SMTP reply p99', 'cold p99', 'target p99', 'met', 'exactly once'],
      ...latency.map((s) => [
        s.id, s.layout, s.accepted, s.achievedRate.toFixed(0), ms(s.latencyMs.p50), ms(s.latencyMs.p99), ms(s.latencyMs.max), ms(s.smtpReplyMs.p99), ms(s.coldLatencyMs.p99),
        `<= ${s.p99TargetMs} ms`, s.met ? 'yes' : 'NO', s.exactlyOnce ? 'yes' : `NO (missing ${s.missing}, dup ${s.duplicates}, refused ${s.refused})`,
      ]),
    ]));
  }
  const large = results.scenarios.filter((s) => s.kind === 'large');
  if (large.length) {
    out.push(table([
      ['scenario', 'layout', 'messages', 'size', 'accepted in', 'delivered in', 'byte-identical', 'peak RSS per mxhook process', 'redis peak', 'target', 'met'],
      ...large.map((s) => [
        s.id, s.layout, s.accepted, mb(s.messageBytes), `${s.acceptSeconds.toFixed(1)} s`, `${s.endToEndSeconds.toFixed(1)} s`, `${s.identical}/${s.accepted}`,
        Object.entries(s.peakRss).filter(([k]) => k !== 'redis').map(([k, v]) => `${k.replace(/^E-[a-z]+-/, '')} ${mb(v)}`).join(', '),
        mb(s.peakRss.redis), `<= ${mb(s.rssTargetBytes)}`, s.met ? 'yes' : 'NO',
      ]),
    ]));
  }
  if (results.fsync) {
    const f = results.fsync;
    out.push(`Redis appendfsync cost (scenario ${f.scenario}, ${f.layout}): always ${f.always.toFixed(0)}/s, everysec ${f.everysec.toFixed(0)}/s ` +
      `(always is ${pct(1 - f.always / f.everysec)} slower)`);
  }
  return out.join('\n\n');
}

function sum(object, filter) {
  return Object.entries(object).filter(([k]) => filter(k)).reduce((n, [, v]) => n + v, 0);
}
