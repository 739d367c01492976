#!/usr/bin/env node
/**
 * Prints the top functions of a V8 .cpuprofile (from `node --cpu-prof`) by self time, and by
 * inclusive time per package or source file, so optimizations follow the profile, not guesses.
 * Usage: node bench/profile-top.mjs FILE.cpuprofile [count]
 */
import { readFileSync } from 'node:fs';

const [file, countArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/profile-top.mjs FILE.cpuprofile [count]\n');
  process.exit(2);
}
const count = Number(countArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

/** Which package (node_modules/<name>) or project file a frame belongs to. */
function owner(url) {
  if (!url) return '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return url;
  const d = /\/dist\/(.*)$/.exec(url);
  return d ? `mxhook:${d[1]}` : url.replace(/^file:\/\//, '');
}

const fnSelf = new Map();
const ownerSelf = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anonymous)'} ${owner(cf.url)}:${cf.lineNumber + 1}`;
  fnSelf.set(key, (fnSelf.get(key) ?? 0) + us);
  const o = owner(cf.url);
  ownerSelf.set(o, (ownerSelf.get(o) ?? 0) + us);
}
// Who calls the heaviest functions (natives such as writeUtf8String say little on their own).
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
function callersOf(key, depth) {
  const acc = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    if (`${cf.functionName || '(anonymous)'} ${owner(cf.url)}:${cf.lineNumber + 1}` !== key) continue;
    const chain = [];
    for (let p = parent.get(id); p && chain.length < depth; p = parent.get(p.id)) {
      const f = p.callFrame;
      if (f.functionName === '(root)') break;
      chain.push(`${f.functionName || '(anon)'}@${owner(f.url)}:${f.lineNumber + 1}`);
    }
    const k = chain.join(' < ');
    acc.set(k, (acc.get(k) ?? 0) + us);
  }
  return [...acc].sort((a, b) => b[1] - a[1]).slice(0, 4);
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`total sampled ${(total / 1e6).toFixed(2)} s`);
console.log('\nself time by function:');
for (const [k, us] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, count)) console.log(`${pct(us)}  ${k}`);
const depth = Number(process.env.CALLER_DEPTH ?? 4);
console.log('\ncallers of the heaviest functions:');
for (const [k] of [...fnSelf].filter(([k]) => !/^\((idle|program|garbage collector)\)/.test(k)).sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.CALLERS ?? 8))) {
  console.log(k);
  for (const [chain, us] of callersOf(k, depth)) console.log(`   ${pct(us)}  ${chain}`);
}
// Inclusive time of the project's own functions (a frame counted once per sample, however deep).
const inclusive = new Map();
for (const [id, us] of self) {
  const keys = new Set();
  for (let n = byId.get(id); n; n = parent.get(n.id)) {
    const cf = n.callFrame;
    if (owner(cf.url).startsWith('mxhook:')) keys.add(`${cf.functionName || '(anonymous)'} ${owner(cf.url)}:${cf.lineNumber + 1}`);
  }
  for (const k of keys) inclusive.set(k, (inclusive.get(k) ?? 0) + us);
}
console.log('\ninclusive time of mxhook functions:');
for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, count)) console.log(`${pct(us)}  ${k}`);
// FOCUS=pattern: where the time under matching frames goes (self time of what they call).
if (process.env.FOCUS) {
  const under = new Map();
  let sum = 0;
  for (const [id, us] of self) {
    let hit = false;
    for (let n = byId.get(id); n && !hit; n = parent.get(n.id)) hit = `${n.callFrame.functionName} ${owner(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`.includes(process.env.FOCUS);
    if (!hit) continue;
    sum += us;
    const cf = byId.get(id).callFrame;
    const k = `${cf.functionName || '(anonymous)'} ${owner(cf.url)}:${cf.lineNumber + 1}`;
    under.set(k, (under.get(k) ?? 0) + us);
  }
  console.log(`\nunder frames matching "${process.env.FOCUS}": ${pct(sum)} in all`);
  for (const [k, us] of [...under].sort((a, b) => b[1] - a[1]).slice(0, count)) console.log(`${pct(us)}  ${k}`);
}
console.log('\nself time by package / file:');
for (const [k, us] of [...ownerSelf].sort((a, b) => b[1] - a[1]).slice(0, count)) console.log(`${pct(us)}  ${k}`);
