#!/usr/bin/env node
// Rewrites the generated parts of the docs (node >= 22.18 / 24): the settings table in
// docs/configuration.md from the settings schema, and docs/api.md from the OpenAPI document.
import { readFileSync, writeFileSync } from 'node:fs';
import { settingsMarkdownTable } from '../src/config/load.ts';
import { API_DOC, currentIntro, openApiDocument, renderApiReference } from './api-reference.mjs';

export const CONFIGURATION_DOC = 'docs/configuration.md';
const configuration = readFileSync(CONFIGURATION_DOC, 'utf8');
writeFileSync(CONFIGURATION_DOC, configuration.replace(/(<!-- settings-table:start -->\n)[\s\S]*?(<!-- settings-table:end -->)/, `$1${settingsMarkdownTable()}\n$2`));
writeFileSync(API_DOC, renderApiReference(await openApiDocument(), currentIntro(readFileSync(API_DOC, 'utf8'))));
