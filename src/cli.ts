#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * `mxhook` command entry. Checks the Node.js version first and loads the rest only when it fits:
 * static imports would be evaluated before any check, and the dependencies crash on an old Node.
 */
import { runtimeProblem } from './domain/runtime.ts';

const problem = runtimeProblem(process.versions.node);
if (problem) {
  process.stderr.write(`mxhook: ${problem}\n`);
  process.exit(1);
}
await import('./app/cli-main.ts');
