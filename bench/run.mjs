#!/usr/bin/env node
/**
 * `npm run bench`: mxhook's reproducible benchmark (scenarios in bench/lib/scenarios.mjs, how to
 * read it in docs/performance.md). Starts everything itself (redis-server, mxhook from dist/,
 * a webhook sink, Postfix's smtp-source and smtp-sink) and installs nothing: it says what is
 * missing. Results: a table on stdout and bench-results/latest.json.
 *
 * Options: --only A,B,C,D,E   --layouts split,all   --workers N (split layout, default 1)
 *          --scale F (message counts times F, e.g. 0.1 for a quick look)   --no-fsync-compare
 *          --profile (node --cpu-prof for every mxhook process, into bench-results/profiles)
 *          --mxhook-args "FLAGS" (extra flags for every mxhook process)   --out FILE
 *          --node-args "FLAGS" (extra node flags for every mxhook process, after dist/cli.js's own)
 *          --log-compare (only: the first of --only, A by default, with the message log on and off
 *          in --rounds N interleaved rounds, default 3, on the first of --layouts; bench/lib/log-compare.mjs)
 *          --cluster (only: scenario A on single Redis, then on a local Redis Cluster of 3 primaries and
 *          3 replicas, appendfsync always on both, mxhook with --redis-cluster and --shards N, default
 *          --shards 16; layouts `all` unless --layouts says; side by side; bench/lib/cluster.mjs)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { deploy } from './lib/deploy.mjs';
import { compareMessageLog, formatLogCompare } from './lib/log-compare.mjs';
import { ROOT, missingPrerequisites, startSink } from './lib/procs.mjs';
import { startBenchCluster } from './lib/cluster.mjs';
import { cpuBusy, describeMachine, formatClusterComparison, formatResults, isRedisKey } from './lib/report.mjs';
import { SCENARIOS, measureCeiling, runLarge, runLatency, runThroughput } from './lib/scenarios.mjs';

const { values: opts } = parseArgs({
  options: {
    only: { type: 'string', default: 'A,B,C,D,E' },
    layouts: { type: 'string' }, // split,all; all with --cluster
    cluster: { type: 'boolean', default: false },
    shards: { type: 'string', default: '16' },
    workers: { type: 'string', default: '1' },
    scale: { type: 'string', default: '1' },
    'no-fsync-compare': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'mxhook-args': { type: 'string', default: '' },
    'node-args': { type: 'string', default: '' },
    'log-compare': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string', default: path.join(ROOT, 'bench-results/latest.json') },
  },
});

const missing = missingPrerequisites();
if (missing.length) {
  process.stderr.write(`bench: cannot run, missing:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
  process.exit(2);
}
const clusterMode = opts.cluster;
if (clusterMode && opts['log-compare']) {
  process.stderr.write('bench: --cluster and --log-compare are separate runs: choose one\n');
  process.exit(2);
}
// --cluster is scenario A only: the throughput one, where what Redis costs per message shows.
const only = (clusterMode ? 'A' : opts.only).split(',').map((s) => s.trim().toUpperCase()).filter((id) => SCENARIOS[id]);
const layouts = (opts.layouts ?? (clusterMode ? 'all' : 'split,all')).split(',').map((s) => s.trim()).filter((l) => l === 'split' || l === 'all');
const workers = Number(opts.workers);
const shards = Number(opts.shards);
const scale = Number(opts.scale);
const mxhookArgs = opts['mxhook-args'].split(' ').filter(Boolean);
const work = path.join(ROOT, 'bench-results/run');
const log = (text) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

const machine = { ...describeMachine(), cpuBusyAtStart: await cpuBusy() };
if (machine.cpuBusyAtStart > 0.1) {
  log(`warning: the CPU was ${Math.round(machine.cpuBusyAtStart * 100)}% busy before the bench started: something else runs, figures will be low`);
}
const logCompare = opts['log-compare'];
const rounds = Math.max(1, Number(opts.rounds) || 1);
const results = {
  date: new Date().toISOString(), machine,
  settings: {
    only, layouts, workers, scale, mxhookArgs, appendfsync: 'always', authChecks: false, ...(logCompare ? { logCompare, rounds } : {}),
    ...(clusterMode ? { cluster: true, shards } : {}),
  },
  scenarios: [],
};
const startedAt = Date.now();
const sink = await startSink();

const deployOptions = (layout, id, extra = {}) => ({
  name: `${id}-${layout}`, layout, workers, dir: path.join(work, `${id}-${layout}`), sinkUrl: sink.url, args: mxhookArgs,
  nodeArgs: [
    ...(opts.profile ? ['--cpu-prof', '--cpu-prof-dir', path.join(ROOT, 'bench-results/profiles', `${id}-${layout}`)] : []),
    ...opts['node-args'].split(' ').filter(Boolean),
  ],
  ...extra,
});
const layoutName = (layout) => (layout === 'split' ? `split (smtp + ${workers} worker${workers > 1 ? 's' : ''})` : 'all-in-one');

try {
  if (logCompare) {
    const id = only.find((i) => SCENARIOS[i].sessions) ?? 'A';
    const runs = [];
    results.logCompare = await compareMessageLog({
      scenario: SCENARIOS[id], id, count: Math.round(SCENARIOS[id].count * scale), layout: layouts[0], layoutLabel: layoutName(layouts[0]),
      rounds, sink, deployOptions, onRun: (r) => runs.push(r), log,
    });
    results.logCompare.runs = runs;
  }
  const ceilings = {};
  for (const id of logCompare ? [] : only.filter((i) => SCENARIOS[i].sessions)) {
    const count = Math.round(SCENARIOS[id].count * scale);
    ceilings[id] = await measureCeiling(SCENARIOS[id], count);
    log(`${id}: smtp-sink ceiling ${ceilings[id].rate.toFixed(0)} messages/s`);
  }
  if (clusterMode) await runClusterComparison(ceilings);
  for (const layout of logCompare || clusterMode ? [] : layouts) {
    for (const id of only) {
      const s = SCENARIOS[id];
      log(`${id} (${s.title}) on ${layoutName(layout)}...`);
      const deployment = await deploy(deployOptions(layout, id));
      try {
        const base = { id, title: s.title, layout: layoutName(layout) };
        if (s.sessions) {
          const r = await runThroughput(s, Math.round(s.count * scale), deployment, sink);
          const ratio = r.endToEndRate / ceilings[id].rate;
          results.scenarios.push({ ...base, kind: 'throughput', ...r, ceilingRate: ceilings[id].rate, ratio, target: s.target, met: ratio >= s.target && r.exactlyOnce });
        } else if (s.rate) {
          const r = await runLatency(s, deployment, sink, scale);
          results.scenarios.push({ ...base, kind: 'latency', ...r, p99TargetMs: s.p99TargetMs, met: r.latencyMs.p99 <= s.p99TargetMs && r.exactlyOnce && !r.refused });
        } else {
          const r = await runLarge(s, deployment, sink, scale);
          const peakRss = await deployment.memory();
          const worst = Math.max(...Object.entries(peakRss).filter(([k]) => !isRedisKey(k)).map(([, v]) => v));
          results.scenarios.push({ ...base, kind: 'large', ...r, peakRss, rssTargetBytes: s.rssTargetBytes, met: worst <= s.rssTargetBytes && r.exactlyOnce && r.identical === r.accepted && !r.refused });
        }
        const last = results.scenarios.at(-1);
        log(`${id} on ${layoutName(layout)}: ${last.met ? 'target met' : 'target MISSED'}${last.exactlyOnce ? '' : ', NOT exactly once'}`);
      } finally {
        await deployment.stop();
      }
    }
  }
  // What `appendfsync always` (the managed Redis's default: a 250 survives a power cut) costs.
  const fsyncId = only.find((id) => id === 'A');
  if (fsyncId && !opts['no-fsync-compare'] && !logCompare && !clusterMode) {
    const always = results.scenarios.find((r) => r.id === fsyncId && r.kind === 'throughput' && r.layout === layoutName(layouts[0]));
    log(`${fsyncId} on ${layoutName(layouts[0])} with appendfsync everysec, for comparison...`);
    const deployment = await deploy(deployOptions(layouts[0], `${fsyncId}-everysec`, { fsync: 'everysec' }));
    try {
      const r = await runThroughput(SCENARIOS[fsyncId], Math.round(SCENARIOS[fsyncId].count * scale), deployment, sink);
      results.fsync = { scenario: fsyncId, layout: layoutName(layouts[0]), always: always.endToEndRate, everysec: r.endToEndRate, everysecExactlyOnce: r.exactlyOnce };
    } finally {
      await deployment.stop();
    }
  }
} finally {
  await sink.stop();
}

results.durationSeconds = Math.round((Date.now() - startedAt) / 1000);
mkdirSync(path.dirname(opts.out), { recursive: true });
writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
const m = results.machine;
process.stdout.write(`\nmxhook bench, ${results.date}: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, ${m.redis}\n`);
process.stdout.write(`(ratios are to Postfix's smtp-sink under the same smtp-source load in the same run; CPU ${Math.round((m.cpuBusyAtStart ?? 0) * 100)}% busy before the start)\n\n`);
const tables = [
  formatResults(results), results.logCompare ? formatLogCompare(results.logCompare) : '', results.cluster ? formatClusterComparison(results) : '',
].filter(Boolean).join('\n\n');
process.stdout.write(`${tables}\n\nTook ${results.durationSeconds} s. JSON: ${path.relative(process.cwd(), opts.out)}\n`);
const failedRuns = results.cluster?.failures?.length ?? 0;
process.exit(!failedRuns && [...results.scenarios, ...(results.logCompare?.runs ?? [])].every((s) => s.exactlyOnce) ? 0 : 1);

/**
 * --cluster: scenario A on each of --layouts, first on the managed single Redis (as every run
 * does), then on a fresh local cluster (3 primaries, 1 replica each, appendfsync always as the
 * single one) with mxhook on `--shards N`. A failed run (smtp-source stops at the first 4xx, a
 * 451 included) is recorded, and the other side still runs.
 */
async function runClusterComparison(ceilings) {
  const id = 'A';
  const s = SCENARIOS[id];
  const count = Math.round(s.count * scale);
  const clusterLabel = `cluster (3 primaries + 3 replicas, ${shards} shards)`;
  results.cluster = {
    primaries: 3, replicasPerPrimary: 1, shards, waitReplicas: 'mxhook default: 1 replica per accept on a cluster',
    appendfsync: { single: 'always', cluster: 'always' },
    transport: { single: 'unix socket', cluster: 'TCP on 127.0.0.1' },
    runs: [], failures: [],
  };
  const record = (base, r) => {
    const ratio = r.endToEndRate / ceilings[id].rate;
    results.scenarios.push({ ...base, kind: 'throughput', ...r, ceilingRate: ceilings[id].rate, ratio, target: s.target, met: ratio >= s.target && r.exactlyOnce });
    const last = results.scenarios.at(-1);
    log(`${id} on ${base.layout}, ${base.redis}: ${last.endToEndRate.toFixed(0)} delivered/s, ${last.met ? 'target met' : 'target MISSED'}${last.exactlyOnce ? '' : ', NOT exactly once'}`);
  };
  for (const layout of layouts) {
    const base = { id, title: s.title, layout: layoutName(layout) };
    log(`${id} (${s.title}) on ${layoutName(layout)}, single Redis...`);
    let deployment = await deploy(deployOptions(layout, id));
    try {
      record({ ...base, redis: 'single' }, { ...(await runThroughput(s, count, deployment, sink)), problems: deployment.problems() });
    } catch (err) {
      results.cluster.failures.push({ layout: base.layout, redis: 'single', error: String(err.message ?? err), problems: deployment.problems() });
      log(`${id} on ${layoutName(layout)}, single Redis FAILED: ${err.message ?? err}`);
    } finally {
      await deployment.stop();
    }
    log(`starting a local Redis Cluster (3 primaries, 3 replicas, appendfsync always)...`);
    const cluster = await startBenchCluster({ primaries: 3, replicasPerPrimary: 1, appendfsync: 'always' });
    results.cluster.settings = cluster.settings;
    try {
      log(`${id} on ${layoutName(layout)}, ${clusterLabel}...`);
      deployment = await deploy(deployOptions(layout, `${id}-cluster`, { cluster, shards }));
      try {
        const r = await runThroughput(s, count, deployment, sink);
        // The cluster is this run's alone: its WAITs are the run's.
        record({ ...base, redis: clusterLabel }, { ...r, waitCallsPerMessage: (await deployment.calls('wait')) / count, problems: deployment.problems() });
      } catch (err) {
        results.cluster.failures.push({ layout: base.layout, redis: clusterLabel, error: String(err.message ?? err), problems: deployment.problems() });
        log(`${id} on ${layoutName(layout)}, cluster FAILED: ${err.message ?? err}`);
      } finally {
        await deployment.stop();
      }
      // Every key of the run (messages, their log records and raw bytes kept for the log, queues), by where it landed.
      results.cluster.runs.push({ layout: base.layout, nodes: cluster.ports, primaries: await cluster.primaryPorts(), keysPerPrimary: await cluster.keysPerPrimary() });
    } finally {
      await cluster.stop();
    }
  }
}
