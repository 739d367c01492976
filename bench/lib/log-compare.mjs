/**
 * `--log-compare`: one throughput scenario (A unless told) with the message log on and with
 * `--message-log false`, in interleaved rounds on fresh deployments (on, off, then off, on, ...),
 * so machine drift over the run falls on both sides alike. The figure: the median delivered rate
 * of each side and the log's cost, 1 - on / off.
 */
import { deploy } from './deploy.mjs';
import { runThroughput } from './scenarios.mjs';

export const LOG_COST_TARGET = 0.1;

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * `deployOptions(layout, name, extra)` as in run.mjs; `onRun(entry)` receives each run's result
 * (for results.scenarios); `log` reports progress. Returns the comparison for results.logCompare.
 */
export async function compareMessageLog({ scenario, id, count, layout, layoutLabel, rounds, sink, deployOptions, onRun, log }) {
  const variants = { on: [], off: [] };
  // CPU per message (mxhook processes, redis-server): steadier than rates on a busy machine.
  const cpu = { on: { mxhook: [], redis: [] }, off: { mxhook: [], redis: [] } };
  const perRound = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? ['on', 'off'] : ['off', 'on'];
    const pair = { round };
    for (const side of order) {
      const name = `${id}-log-${side}-r${round}`;
      log(`${id} with the message log ${side}, round ${round}/${rounds}, on ${layoutLabel}...`);
      const extra = side === 'off' ? { args: [...deployOptions(layout, name).args, '--message-log', 'false'] } : {};
      const deployment = await deploy(deployOptions(layout, name, extra));
      try {
        const r = await runThroughput(scenario, count, deployment, sink);
        variants[side].push(r.endToEndRate);
        const perMessage = Object.entries(r.cpuMsPerMessage);
        cpu[side].mxhook.push(perMessage.filter(([k]) => k !== 'redis').reduce((n, [, v]) => n + v, 0));
        cpu[side].redis.push(r.cpuMsPerMessage.redis);
        pair[side] = r.endToEndRate;
        onRun({ id: `${id}-log-${side}`, round, title: `${scenario.title}, message log ${side}`, layout: layoutLabel, kind: 'throughput', ...r });
        log(`${id} log ${side} round ${round}: ${r.endToEndRate.toFixed(0)} delivered/s${r.exactlyOnce ? '' : ', NOT exactly once'}`);
      } finally {
        await deployment.stop();
      }
    }
    pair.cost = 1 - pair.on / pair.off;
    perRound.push(pair);
  }
  const on = median(variants.on);
  const off = median(variants.off);
  const cost = 1 - on / off;
  return {
    scenario: id, layout: layoutLabel, messages: count, rounds,
    on: { rates: variants.on, median: on, cpuMsPerMessage: { mxhook: median(cpu.on.mxhook), redis: median(cpu.on.redis) } },
    off: { rates: variants.off, median: off, cpuMsPerMessage: { mxhook: median(cpu.off.mxhook), redis: median(cpu.off.redis) } },
    ratio: on / off, cost, perRound, target: LOG_COST_TARGET, met: cost <= LOG_COST_TARGET,
  };
}

/** The comparison's lines for the results table. */
export function formatLogCompare(c) {
  const rates = (list) => list.map((r) => r.toFixed(0)).join(', ');
  const cpu = (side) => `CPU ${side.cpuMsPerMessage.mxhook.toFixed(2)} + ${side.cpuMsPerMessage.redis.toFixed(2)} ms per message (mxhook + redis)`;
  return [
    `Message log cost (scenario ${c.scenario}, ${c.layout}, ${c.messages} messages, ${c.rounds} interleaved round${c.rounds > 1 ? 's' : ''}):`,
    `  log on  ${c.on.median.toFixed(0)} delivered/s (median of ${rates(c.on.rates)}), ${cpu(c.on)}`,
    `  log off ${c.off.median.toFixed(0)} delivered/s (median of ${rates(c.off.rates)}), ${cpu(c.off)}`,
    `  on/off ${(c.ratio * 100).toFixed(1)}%: the log costs ${(c.cost * 100).toFixed(1)}% (target <= ${(c.target * 100).toFixed(0)}%: ${c.met ? 'met' : 'MISSED'});` +
      ` per round ${c.perRound.map((p) => `${(p.cost * 100).toFixed(1)}%`).join(', ')}`,
  ].join('\n');
}
