#!/usr/bin/env node
// Rewrites the README's configuration table from the settings schema (node >= 22.18 / 24).
import { readFileSync, writeFileSync } from 'node:fs';
import { settingsMarkdownTable } from '../src/config/load.ts';

const readme = readFileSync('README.md', 'utf8');
const next = readme.replace(/(<!-- settings-table:start -->\n)[\s\S]*?(<!-- settings-table:end -->)/, `$1${settingsMarkdownTable()}\n$2`);
writeFileSync('README.md', next);
