/**
 * What the built-in inspector keeps of one POST (the fields your app would get) and how the CLI
 * shows it. Pure: storage is routes/inspector.ts, the HTTP side api/inspect.ts.
 */

export interface InspectedField {
  readonly name: string;
  /** The text value, cut at INSPECT_VALUE_LIMIT characters (`truncated` then says so). */
  readonly value: string;
  readonly truncated?: boolean;
}

export interface InspectedFile {
  readonly field: string;
  readonly filename: string;
  readonly type: string;
  readonly size: number;
  readonly sha256: string;
}

export interface InspectedPost {
  readonly receivedAt: string;
  readonly hostname: string;
  readonly deliveryId?: string;
  readonly attempt?: string;
  readonly bytes: number;
  /** Standard Webhooks signature checked against the route's secrets. */
  readonly signature: 'valid' | 'invalid' | 'unsigned';
  readonly fields: readonly InspectedField[];
  readonly files: readonly InspectedFile[];
}

/** Longest text value kept per field: enough to read a body, bounded per stored POST. */
export const INSPECT_VALUE_LIMIT = 16 * 1024;

/** Shown per value in the CLI listing; `--full` shows what is kept. */
const PREVIEW_CHARS = 120;

export function formatInspectedPost(post: InspectedPost, index: number, full = false): string {
  const meta = [post.deliveryId && `delivery ${post.deliveryId}`, post.attempt && `attempt ${post.attempt}`, `${post.bytes} bytes`, `signature ${post.signature}`]
    .filter(Boolean).join(', ');
  const lines = [`POST #${index} to ${post.hostname} at ${post.receivedAt} (${meta})`];
  const width = Math.max(12, ...post.fields.map((f) => f.name.length), ...post.files.map((f) => f.field.length)) + 2;
  for (const f of post.fields) {
    const value = full ? f.value : preview(f.value);
    lines.push(`  ${f.name.padEnd(width)}${value}${f.truncated ? ' [cut]' : ''}`);
  }
  for (const f of post.files) lines.push(`  ${f.field.padEnd(width)}file ${f.filename} (${f.type}, ${f.size} bytes, sha256 ${f.sha256.slice(0, 16)}...)`);
  return `${lines.join('\n')}\n`;
}

/** One line: newlines shown as \n, long values cut with their length. */
function preview(value: string): string {
  const oneLine = value.replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t');
  return oneLine.length <= PREVIEW_CHARS ? oneLine : `${oneLine.slice(0, PREVIEW_CHARS)}... (${value.length} chars)`;
}

/** The path the inspector answers on; a route's URL pointing there is an inspector route. */
export const INSPECT_PATH_PREFIX = '/inspect/';

export function inspectorTokenOf(url: string): string | undefined {
  try {
    const { pathname } = new URL(url);
    const token = pathname.startsWith(INSPECT_PATH_PREFIX) ? pathname.slice(INSPECT_PATH_PREFIX.length) : '';
    return isInspectorToken(token) ? token : undefined;
  } catch {
    return undefined;
  }
}

export function isInspectorToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{16,64}$/.test(token);
}
