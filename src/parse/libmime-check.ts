/**
 * charset.ts imports libmime's charset module (a subpath its package exports map declares but its
 * README does not document) and subclasses its Libmime class. libmime is pinned to the exact
 * version below (package.json); this check, run when the worker role starts, refuses to start on
 * anything else or when those parts are not there.
 */
import { createRequire } from 'node:module';
import libmime from 'libmime';
import * as charset from 'libmime/lib/charset.js';

/** Keep equal to package.json's exact "libmime" version. */
export const LIBMIME_PINNED_VERSION = '5.6.4';

export function libmimeProblems(parts: { charsetModule: unknown; libmimeClass: unknown }, installedVersion: string): string[] {
  const problems: string[] = [];
  if (installedVersion !== LIBMIME_PINNED_VERSION) problems.push(`version ${installedVersion} is installed, charset.ts is written for ${LIBMIME_PINNED_VERSION}`);
  const decode = (parts.charsetModule as { decode?: unknown } | undefined)?.decode;
  if (typeof decode !== 'function' || decode.length !== 2) problems.push('libmime/lib/charset.js no longer exports decode(buffer, charset)');
  const proto = (parts.libmimeClass as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  for (const name of ['decodeWord', 'decodeWords']) {
    if (typeof proto?.[name] !== 'function') problems.push(`Libmime.prototype.${name} is missing`);
  }
  return problems;
}

export function assertLibmimeInternals(
  parts: { charsetModule: unknown; libmimeClass: unknown } = { charsetModule: charset, libmimeClass: libmime.Libmime },
  installedVersion = (createRequire(import.meta.url)('libmime/package.json') as { version: string }).version,
): void {
  const problems = libmimeProblems(parts, installedVersion);
  if (problems.length) throw new Error(`libmime ${installedVersion} does not match what mxhook uses (src/parse/charset.ts; pinned ${LIBMIME_PINNED_VERSION}): ${problems.join('; ')}`);
}
