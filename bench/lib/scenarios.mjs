/**
 * The five scenarios (see bench/README.md): A, B, C drive mxhook with Postfix's smtp-source and
 * compare with smtp-sink under the same load; D paces 300 messages/s and measures end of DATA to
 * POST arrival; E sends 20 messages of 25 MB at once and checks memory and exact bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { HOSTNAME } from './deploy.mjs';
import { runTimed, sleep, which } from './procs.mjs';
import { SmtpConnection, messageWithAttachment, plainMessage, wallNow } from './smtp-client.mjs';

// Targets: Haraka 3.3.4 with a plugin that POSTs each raw message before its 250 (no queue, no
// parsing, no retries), as a ratio to smtp-sink, measured on a 2-core machine of ours (docs/performance.md).
export const SCENARIOS = {
  A: { title: '5 KB, 50 sessions, connection reuse', count: 20_000, sessions: 50, size: 5_000, reuse: true, target: 0.173 },
  B: { title: '5 KB, 200 sessions, one message per connection', count: 20_000, sessions: 200, size: 5_000, reuse: false, target: 0.138 },
  C: { title: '100 KB, 20 sessions, connection reuse', count: 2_000, sessions: 20, size: 100_000, reuse: true, target: 0.231 },
  D: { title: 'steady 300 messages/s for 30 s, end of DATA to POST', rate: 300, seconds: 30, warmupSeconds: 3, size: 5_000, connections: 16, p99TargetMs: 20 },
  E: { title: '20 messages of 25 MB at once', count: 20, size: 25 * 1024 * 1024, rssTargetBytes: 300 * 1024 * 1024 },
};

const smtpSourceArgs = (s, count, port) => [
  '-s', String(s.sessions), '-m', String(count), '-l', String(s.size), ...(s.reuse ? ['-d'] : []),
  // -N numbers every recipient (1rcpt@, 2rcpt@, ...): the sink's per-message id.
  '-N', '-f', 'bench@sender.example', '-t', `rcpt@${HOSTNAME}`, `127.0.0.1:${port}`,
];

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** smtp-sink (accepts and discards) under the same smtp-source load: this machine's ceiling. */
export async function measureCeiling(s, count) {
  const port = await freePort();
  const asRoot = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const sink = (await import('node:child_process')).spawn(which('smtp-sink'), [...asRoot, '-m', '1000', `127.0.0.1:${port}`, '1024'], { stdio: 'ignore' });
  await sleep(300);
  const run = await runTimed(which('smtp-source'), smtpSourceArgs(s, count, port));
  sink.kill('SIGTERM');
  if (run.code !== 0) throw new Error(`smtp-source against smtp-sink failed: ${run.output}`);
  return { ms: run.ms, rate: (count * 1000) / run.ms };
}

/** Waits until the sink has `count` distinct messages, or nothing arrived for `stallMs`. */
export async function waitForDeliveries(sink, count, stallMs = 60_000) {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const progress = await sink.progress();
    if (progress.unique >= count) return progress;
    if (progress.posts !== last) {
      last = progress.posts;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > stallMs) return progress;
    await sleep(100);
  }
}

/** Exactly once: every expected id POSTed once, nothing else. */
async function checkExactlyOnce(sink, expectedIds) {
  const report = await sink.report({ ids: true });
  const seen = new Set(report.ids);
  const missing = expectedIds.filter((id) => !seen.has(id)).length;
  const expected = new Set(expectedIds);
  const unexpected = report.ids.filter((id) => !expected.has(id)).length;
  return { posts: report.posts, unique: report.unique, duplicates: report.duplicates, missing, unexpected, exactlyOnce: !missing && !unexpected && !report.duplicates, report };
}

/** A, B, C: smtp-source into mxhook; the clock stops when the last POST reaches the sink. */
export async function runThroughput(s, count, deployment, sink) {
  await sink.reset();
  const cpuBefore = await deployment.cpu();
  const commandsBefore = await deployment.commands();
  const started = wallNow();
  const run = await runTimed(which('smtp-source'), smtpSourceArgs(s, count, deployment.smtpPort));
  if (run.code !== 0) throw new Error(`smtp-source failed (exit ${run.code}): ${run.output.slice(0, 500)}`);
  await waitForDeliveries(sink, count);
  const ids = Array.from({ length: count }, (_, i) => `${i + 1}rcpt@${HOSTNAME}`);
  const check = await checkExactlyOnce(sink, ids);
  const cpuAfter = await deployment.cpu();
  const commandsAfter = await deployment.commands();
  const elapsed = check.report.lastAt - started;
  return {
    accepted: count, acceptMs: run.ms, acceptRate: (count * 1000) / run.ms,
    endToEndMs: elapsed, endToEndRate: (count * 1000) / elapsed,
    ...pick(check, ['posts', 'duplicates', 'missing', 'unexpected', 'exactlyOnce']),
    cpuMsPerMessage: Object.fromEntries(Object.keys(cpuAfter).map((k) => [k, (cpuAfter[k] - cpuBefore[k]) / count])),
    // Every process's commands, accept to delivery (the bench's own few INFO calls included).
    redisCommandsPerMessage: (commandsAfter - commandsBefore) / count,
    // What smtp-source said (it reports a 4xx/5xx reply and carries on): nothing when all went well.
    ...(run.output.trim() ? { smtpSourceOutput: run.output.trim().slice(0, 2000) } : {}),
  };
}

/**
 * D: `rate` messages/s for `seconds`, each timed from end of DATA to its POST's arrival, after a
 * warm-up at the same rate (`warmup` seconds, reported apart as `coldLatencyMs`): a fresh worker
 * process's first deliveries pay for JIT compilation, lazily loaded code and new connections.
 */
export async function runLatency(s, deployment, sink, scale = 1) {
  const cold = await paced({ ...s, seconds: s.warmupSeconds }, deployment, sink, 'w');
  const warm = await paced({ ...s, seconds: s.seconds * scale }, deployment, sink, 'd');
  return { ...warm, coldLatencyMs: cold.latencyMs, coldExactlyOnce: cold.exactlyOnce };
}

async function paced(s, deployment, sink, prefix) {
  await sink.reset();
  const seconds = s.seconds;
  const total = Math.round(s.rate * seconds);
  const pool = await Promise.all(Array.from({ length: s.connections }, () => SmtpConnection.open(deployment.smtpPort)));
  const free = [...pool];
  const endOfData = new Map();
  const smtpMs = [];
  let sent = 0;
  let maxBacklog = 0;
  const inFlight = new Set();
  const failures = [];
  const started = wallNow();
  while (sent < total && (free.length || inFlight.size)) {
    const due = Math.min(total, Math.floor(((wallNow() - started) * s.rate) / 1000) + 1);
    while (sent < due && free.length) {
      const connection = free.pop();
      const id = `${prefix}${++sent}@${HOSTNAME}`;
      const body = plainMessage({ from: 'bench@sender.example', to: id, subject: id, size: s.size });
      const work = connection.send({ from: 'bench@sender.example', to: id, body }).then(({ endOfData: at, acceptedAt }) => {
        endOfData.set(id, at);
        smtpMs.push(acceptedAt - at);
        free.push(connection);
      }, (err) => { failures.push(err.message); });
      inFlight.add(work);
      work.finally(() => inFlight.delete(work));
    }
    // Messages already due that found no free connection: the sender, not mxhook, is behind.
    maxBacklog = Math.max(maxBacklog, due - sent);
    await sleep(1);
  }
  await Promise.all(inFlight);
  const sendSeconds = (wallNow() - started) / 1000;
  await Promise.all(pool.map((c) => c.close()));
  await waitForDeliveries(sink, total);
  const report = await sink.report({ detail: true });
  const latencies = [];
  const worst = [];
  for (const [id, entry] of Object.entries(report.entries)) {
    if (!endOfData.has(id)) continue;
    latencies.push(entry.at - endOfData.get(id));
    worst.push({ atSecond: Math.round(endOfData.get(id) - started) / 1000, ms: Math.round(entry.at - endOfData.get(id)) });
  }
  // When the slowest ones were sent (seconds into the run): a pause shows as a cluster.
  worst.sort((a, b) => b.ms - a.ms).splice(10);
  const ids = [...endOfData.keys()];
  const check = await checkExactlyOnce(sink, ids);
  return {
    accepted: endOfData.size, refused: failures.length, firstRefusal: failures[0], sendSeconds, achievedRate: endOfData.size / sendSeconds, maxBacklog,
    latencyMs: percentiles(latencies), smtpReplyMs: percentiles(smtpMs), slowest: worst,
    ...pick(check, ['posts', 'duplicates', 'missing', 'unexpected', 'exactlyOnce']),
  };
}

/** E: `count` messages of `size` bytes sent at once; every attachment must arrive byte-identical. */
export async function runLarge(s, deployment, sink, scale = 1) {
  await sink.reset(true);
  const count = Math.max(2, Math.round(s.count * scale));
  // base64 in 76-character lines grows the attachment by 4/3 * 78/76.
  const attachmentBytes = Math.floor((s.size - 2048) / ((4 / 3) * (78 / 76)));
  const messages = Array.from({ length: count }, (_, i) => {
    const attachment = randomBytes(attachmentBytes);
    const id = `e${i + 1}@${HOSTNAME}`;
    return { id, sha256: createHash('sha256').update(attachment).digest('hex'), body: messageWithAttachment({ from: 'bench@sender.example', to: id, subject: id, attachment }) };
  });
  const messageBytes = messages[0].body.reduce((n, c) => n + c.length, 0);
  const started = wallNow();
  const failures = [];
  const refusedIds = new Set();
  await Promise.all(messages.map(async (m) => {
    try {
      const connection = await SmtpConnection.open(deployment.smtpPort);
      await connection.send({ from: 'bench@sender.example', to: m.id, body: m.body });
      await connection.close();
    } catch (err) {
      failures.push(`${m.id}: ${err.message}`);
      refusedIds.add(m.id);
    }
  }));
  const acceptSeconds = (wallNow() - started) / 1000;
  await waitForDeliveries(sink, count - failures.length, 120_000);
  const report = await sink.report({ detail: true });
  const identical = messages.filter((m) => report.entries[m.id]?.sha256 === m.sha256).length;
  const check = await checkExactlyOnce(sink, messages.map((m) => m.id).filter((id) => !refusedIds.has(id)));
  return {
    accepted: count - failures.length, refused: failures.length, firstRefusal: failures[0], messageBytes, acceptSeconds, endToEndSeconds: (report.lastAt - started) / 1000, identical,
    ...pick(check, ['posts', 'duplicates', 'missing', 'unexpected', 'exactlyOnce']),
  };
}

export function percentiles(values) {
  if (!values.length) return { p50: NaN, p99: NaN, max: NaN, count: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1], count: sorted.length };
}

function pick(object, keys) {
  return Object.fromEntries(keys.map((k) => [k, object[k]]));
}
