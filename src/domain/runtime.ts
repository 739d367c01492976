/**
 * The Node.js mxhook needs, checked before anything else loads: on an older Node the dependencies
 * crash at import (undici 8 and mailauth need 22.19) with errors that name no version. Kept free of
 * imports and of syntax newer than Node 18, so it runs, and answers, on the old runtime itself.
 */

/**
 * The Node.js lines mxhook runs on, as package.json's `engines` says (src/domain/runtime.test.ts
 * checks they agree): undici 8 and mailauth need 22.19; vitest, dependency-cruiser and their
 * dependencies support only the even (LTS) lines 22, 24 and 26 on.
 */
export const NODE_ENGINES = '^22.19.0 || ^24.0.0 || >=26.0.0';

/** Per supported major line, its lowest minor (the open-ended last line: from that major on). */
const LINES: readonly { major: number; minor: number; andLater?: boolean }[] = [
  { major: 22, minor: 19 }, { major: 24, minor: 0 }, { major: 26, minor: 0, andLater: true },
];

/** `undefined` when `found` (process.versions.node) is on a supported line, else the one-line explanation. */
export function runtimeProblem(found: string): string | undefined {
  const [major = 0, minor = 0] = found.split('.').map((n) => Number.parseInt(n, 10));
  const ok = LINES.some((line) => (line.andLater ? major >= line.major : major === line.major && minor >= line.minor));
  if (ok) return undefined;
  return `needs Node.js ${NODE_ENGINES}, found ${found}: from the checkout run it with \`npm start\` or \`npx mxhook\` ` +
    '(they use the Node 24 that `npm ci` installs in node_modules), or install Node.js 24 (https://nodejs.org/en/download)';
}
