#!/usr/bin/env node
// Writes docs/api.md from the API's OpenAPI document (node >= 22.18 / 24; no Redis needed: the
// client is lazy and never used to build the document). The hand-written intro between the
// api-intro markers is kept; test/docs.test.ts fails when the file drifts from this output.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { buildApiApp } from '../src/api/app.ts';
import { createSigningSecrets } from '../src/routes/signing-secrets.ts';
import { createRouteAdmin } from '../src/services/route-admin.ts';
import { createKeySpace } from '../src/store/keys.ts';

export const API_DOC = 'docs/api.md';
const INTRO = /<!-- api-intro:start -->\n[\s\S]*?<!-- api-intro:end -->/;

/** The OpenAPI document /openapi.json serves, built without connecting anywhere. */
export async function openApiDocument() {
  const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
  const keys = createKeySpace('mxhook');
  const unused = new Proxy({}, { get: () => { throw new Error('not used to build the document'); } });
  const app = await buildApiApp({
    redis, keys, secrets: createSigningSecrets(redis, keys), routes: createRouteAdmin(redis, keys), deadLetters: unused, messages: { accept: async () => { throw new Error('not used to build the document'); }, preview: async () => ({}), testMail: async () => '' },
    extractAttachment: async () => undefined,
    ecdsaPublicKey: async () => '', apiKeyHash: Buffer.alloc(32), logger: pino({ level: 'silent' }),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
  });
  try {
    if (redis.status !== 'wait') throw new Error(`building the document touched Redis (status ${redis.status})`);
    return structuredClone(app.swagger());
  } finally {
    await app.close();
    redis.disconnect();
  }
}

const cell = (text) => String(text ?? '').replaceAll('|', '\\|').replaceAll('\n', ' ');

function typeOf(schema = {}) {
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const types = [schema.type ?? (schema.anyOf || schema.oneOf ? (schema.anyOf ?? schema.oneOf).map(typeOf).join(' or ') : 'any')].flat();
  let text = types.map((t) => (t === 'array' ? `array of ${typeOf(schema.items)}` : t)).join(' or ');
  const limits = [];
  if (schema.minimum !== undefined) limits.push(`>= ${schema.minimum}`);
  if (schema.maximum !== undefined) limits.push(`<= ${schema.maximum}`);
  if (schema.maxLength !== undefined) limits.push(`max ${schema.maxLength} chars`);
  if (schema.default !== undefined) limits.push(`default ${JSON.stringify(schema.default)}`);
  if (limits.length) text += ` (${limits.join(', ')})`;
  return text;
}

/** Rows of (field, type, required, description), nested objects as dotted names. */
function fieldRows(schema, prefix = '') {
  const rows = [];
  const object = schema?.type === 'array' ? schema.items : schema;
  const suffix = schema?.type === 'array' ? '[]' : '';
  for (const [name, child] of Object.entries(object?.properties ?? {})) {
    const field = `${prefix}${suffix}${prefix || suffix ? '.' : ''}${name}`;
    rows.push([field, typeOf(child), (object.required ?? []).includes(name) ? 'yes' : '', child.description ?? '']);
    const inner = child.type === 'array' ? child.items : child;
    if (inner?.properties) rows.push(...fieldRows(child, field));
  }
  return rows;
}

const table = (head, rows) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).map((c, i) => (i === 0 && c ? `\`${c}\`` : c)).join(' | ')} |`)].join('\n');

function responseText(status, response) {
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return `- \`${status}\`${status === '204' ? ': no body' : ''}`;
  if (schema.properties?.errors) return `- \`${status}\`: error, \`{"errors":[{"field","message"}]}\``;
  const rows = fieldRows(schema);
  if (!rows.length) return `- \`${status}\`: ${typeOf(schema)}`;
  return `- \`${status}\`:\n\n${table(['field', 'type', 'required', 'description'], rows).replace(/^/gm, '  ')}\n`;
}

function operationText(method, path, op) {
  const out = [`### ${method.toUpperCase()} \`${path}\``, '', op.summary ?? ''];
  if (op.description) out.push('', op.description);
  out.push('', Array.isArray(op.security) && op.security.length === 0 ? 'No API key.' : 'API key required.');
  if (op.parameters?.length) {
    out.push('', 'Parameters:', '', table(['name', 'in', 'type', 'required', 'description'],
      op.parameters.map((p) => [p.name, p.in, typeOf(p.schema), p.required ? 'yes' : '', p.description ?? p.schema?.description ?? ''])));
  }
  const body = op.requestBody?.content?.['application/json']?.schema;
  if (body) out.push('', `Request body (JSON${op.requestBody.required ? ', required' : ''}):`, '', table(['field', 'type', 'required', 'description'], fieldRows(body)));
  out.push('', 'Responses:', '', ...Object.entries(op.responses ?? {}).map(([status, r]) => responseText(status, r)));
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd();
}

/** docs/api.md: the title, the kept intro, then every operation of the document. */
export function renderApiReference(document, intro) {
  const sections = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(item)) sections.push(operationText(method, path, op));
  }
  return [
    '# API reference',
    '',
    intro,
    '',
    `<!-- Everything below is generated from the OpenAPI document (${document.info.title} ${document.info.version}) by scripts/api-reference.mjs: edit the route schemas in src/api/, not this file. -->`,
    '',
    '## Operations',
    '',
    sections.join('\n\n'),
    '',
  ].join('\n');
}

/** The intro currently in docs/api.md (markers included). */
export function currentIntro(text) {
  const intro = INTRO.exec(text)?.[0];
  if (!intro) throw new Error(`${API_DOC}: the <!-- api-intro:start --> ... <!-- api-intro:end --> markers are missing`);
  return intro;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const text = readFileSync(API_DOC, 'utf8');
  writeFileSync(API_DOC, renderApiReference(await openApiDocument(), currentIntro(text)));
}
