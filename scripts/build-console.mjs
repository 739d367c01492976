#!/usr/bin/env node
// Builds the web console into dist/console: one bundled script, its stylesheet and the page.
// No CDN: every asset is served by mxhook itself (src/api/console.ts).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const out = 'dist/console';
mkdirSync(`${out}/assets`, { recursive: true });
await build({
  entryPoints: ['console/src/main.ts'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  outfile: `${out}/assets/console.js`,
  logLevel: 'warning',
});
copyFileSync('console/index.html', `${out}/index.html`);
copyFileSync('console/console.css', `${out}/assets/console.css`);
