/**
 * The Node.js mxhook needs, checked before anything else loads: on an older Node the dependencies
 * crash at import (undici 8 and mailauth need 22.19) with errors that name no version. Kept free of
 * imports and of syntax newer than Node 18, so it runs, and answers, on the old runtime itself.
 */

/** The oldest Node.js mxhook runs on: undici 8's and mailauth's `engines`. package.json's `engines` says the same (test/first-hour.test.ts). */
export const MIN_NODE_VERSION = '22.19.0';

/** `undefined` when `found` (process.versions.node) is new enough, else the one-line explanation. */
export function runtimeProblem(found: string): string | undefined {
  const have = found.split('.').map((n) => Number.parseInt(n, 10));
  const need = MIN_NODE_VERSION.split('.').map((n) => Number.parseInt(n, 10));
  for (let i = 0; i < need.length; i++) {
    if ((have[i] ?? 0) > need[i]) return undefined;
    if ((have[i] ?? 0) < need[i]) {
      return `needs Node.js >= ${MIN_NODE_VERSION}, found ${found}: from the checkout run it with \`npm start\` or \`npx mxhook\` ` +
        '(they use the Node 24 that `npm ci` installs in node_modules), or install Node.js 24 (https://nodejs.org/en/download)';
    }
  }
  return undefined;
}
