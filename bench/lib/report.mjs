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

/** A Redis figure's key in a per-process object: `redis` (all of Redis) or `redis@<port>` (one cluster node's). */
export const isRedisKey = (key) => key === 'redis' || key.startsWith('redis@');

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
    // A --cluster run: which Redis each row ran on.
    const withRedis = throughput.some((s) => s.redis);
    const redisCell = (s) => (withRedis ? [s.redis ?? 'single'] : []);
    out.push(table([
      ['scenario', 'layout', ...(withRedis ? ['redis'] : []), 'messages', 'smtp-sink/s', 'accepted/s', 'delivered/s', 'ratio', 'target', 'met', 'exactly once', 'CPU ms/msg (mxhook + redis)', 'Redis cmds/msg'],
      ...throughput.map((s) => [
        s.id, s.layout, ...redisCell(s), s.accepted, s.ceilingRate.toFixed(0), s.acceptRate.toFixed(0), s.endToEndRate.toFixed(0),
        pct(s.ratio), `>= ${pct(s.target)}`, s.met ? 'yes' : 'NO', s.exactlyOnce ? 'yes' : `NO (missing ${s.missing}, dup ${s.duplicates})`,
        `${sum(s.cpuMsPerMessage, (k) => !isRedisKey(k)).toFixed(2)} + ${s.cpuMsPerMessage.redis.toFixed(2)}`,
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
        Object.entries(s.peakRss).filter(([k]) => !isRedisKey(k)).map(([k, v]) => `${k.replace(/^E-[a-z]+-/, '')} ${mb(v)}`).join(', '),
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

/** --cluster: each layout's single and cluster runs side by side, CPU per process, keys per primary, what differed. */
export function formatClusterComparison(results) {
  const c = results.cluster;
  const cores = results.machine.cores;
  const out = [`Single Redis vs Redis Cluster (scenario A, ${results.settings.scale === 1 ? 'full scale' : `scale ${results.settings.scale}`}):`];
  const cpuLine = (s, primaries) => {
    const perMessage = s.cpuMsPerMessage;
    const mxhook = Object.entries(perMessage).filter(([k]) => !isRedisKey(k));
    const nodes = Object.entries(perMessage).filter(([k]) => k.startsWith('redis@'));
    const total = sum(perMessage, (k) => k !== 'redis' && !k.startsWith('redis@')) + perMessage.redis;
    let redis = `redis ${perMessage.redis.toFixed(2)}`;
    if (nodes.length) {
      const role = (k) => (primaries?.includes(Number(k.slice(6))) ? 'primary' : 'replica');
      const group = (wanted) => nodes.filter(([k]) => role(k) === wanted);
      const part = (wanted) => `${wanted === 'primary' ? 'primaries' : 'replicas'} ${group(wanted).reduce((n, [, v]) => n + v, 0).toFixed(2)} (${group(wanted).map(([k, v]) => `${k.slice(6)} ${v.toFixed(2)}`).join(', ')})`;
      redis = `redis total ${perMessage.redis.toFixed(2)}: ${part('primary')}, ${part('replica')}`;
    }
    return `CPU ms/msg: ${mxhook.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}, ${redis}; all ${total.toFixed(2)} ms/msg = ${((total * s.endToEndRate) / 1000).toFixed(2)} of ${cores} cores busy`;
  };
  const runLine = (s) => `${s.endToEndRate.toFixed(0)} delivered/s (${s.acceptRate.toFixed(0)} accepted/s), ${pct(s.ratio)} of smtp-sink's ${s.ceilingRate.toFixed(0)}/s, `
    + `target >= ${pct(s.target)} ${s.met ? 'met' : 'MISSED'}, exactly once ${s.exactlyOnce ? 'yes' : `NO (missing ${s.missing}, dup ${s.duplicates}, unexpected ${s.unexpected})`}`;
  const layouts = [...new Set([...results.scenarios.map((s) => s.layout), ...c.failures.map((f) => f.layout)])];
  for (const layout of layouts) {
    const single = results.scenarios.find((s) => s.layout === layout && s.redis === 'single');
    const cluster = results.scenarios.find((s) => s.layout === layout && s.redis && s.redis !== 'single');
    const run = c.runs.find((r) => r.layout === layout);
    out.push(`  ${layout}:`);
    if (single) out.push(`    single:  ${runLine(single)}`, `             ${cpuLine(single)}`);
    if (cluster) out.push(`    cluster: ${runLine(cluster)}`, `             ${cpuLine(cluster, run?.primaries)}`);
    if (single && cluster) {
      out.push(`    cluster / single: ${pct(cluster.endToEndRate / single.endToEndRate)} of the rate, `
        + `${(cluster.redisCommandsPerMessage ?? 0).toFixed(0)} vs ${(single.redisCommandsPerMessage ?? 0).toFixed(0)} Redis commands/msg (cluster: on primaries)`
        + `${cluster.waitCallsPerMessage === undefined ? '' : `, ${cluster.waitCallsPerMessage.toFixed(2)} WAIT/msg on the cluster`}`);
    }
    if (run) {
      const keys = Object.entries(run.keysPerPrimary);
      const all = keys.reduce((n, [, v]) => n + v, 0);
      out.push(`    keys per primary after the cluster run: ${keys.map(([port, n]) => `${port} ${n} (${pct(n / (all || 1))})`).join(', ')}`);
    }
    for (const f of c.failures.filter((x) => x.layout === layout)) out.push(`    ${f.redis} FAILED: ${f.error.split('\n')[0].slice(0, 300)}`);
    for (const s of [single, cluster].filter(Boolean)) {
      const problems = Object.entries(s.problems ?? {}).filter(([, p]) => p.count);
      if (problems.length) {
        out.push(`    warnings in mxhook's logs (${s.redis}): ${problems.map(([name, p]) => `${name} ${p.count} (${Object.entries(p.events).map(([e, n]) => `${e} ${n}`).join(', ')})`).join('; ')}`);
      }
      if (s.smtpSourceOutput) out.push(`    smtp-source said (${s.redis}): ${s.smtpSourceOutput.split('\n').slice(0, 3).join(' | ')}`);
    }
  }
  out.push(
    `  appendfsync: ${c.appendfsync.single} on the single Redis, ${c.appendfsync.cluster} on every cluster node (CONFIG SET after the cluster formed); `
      + `single Redis over a ${c.transport.single}, the cluster over ${c.transport.cluster}; on the cluster each accept also waits (WAIT) for 1 replica.`,
    `  Everything (${c.primaries * (1 + c.replicasPerPrimary)} redis-server on the cluster side, mxhook, smtp-source, the sink) shares these ${cores} cores: `
      + 'the cluster figures are what its extra work costs here, not what it scales to on machines of its own.',
  );
  return out.join('\n');
}

function sum(object, filter) {
  return Object.entries(object).filter(([k]) => filter(k)).reduce((n, [, v]) => n + v, 0);
}
