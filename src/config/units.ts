/** Parsers for the human-friendly values settings take ("30MB", "5m", "300-600s"). Pure. */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** "250ms", "10s", "5m", "72h", "7d" or a bare number of milliseconds -> milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) throw new Error(`expected a duration like 250ms, 10s, 5m, 72h or 7d, got "${text}"`);
  return Math.round(Number(match[1]) * DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()]);
}

/** "5m-10m" -> [300000, 600000]; a single duration gives a fixed interval. */
export function parseDurationRange(text: string): readonly [number, number] {
  const parts = text.split('-');
  if (parts.length > 2) throw new Error(`expected a duration or a range like 5m-10m, got "${text}"`);
  const [low, high = low] = parts;
  const range = [parseDuration(low), parseDuration(high)] as const;
  if (range[0] > range[1]) throw new Error(`range "${text}" has its low end above its high end`);
  return range;
}

/** "30MB", "512kb", "1048576" -> bytes (binary units, as SMTP servers usually mean them). */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)?\s*$/i.exec(text);
  if (!match) throw new Error(`expected a size like 30MB, 512KB or a number of bytes, got "${text}"`);
  return Math.round(Number(match[1]) * SIZE_UNITS[(match[2] || 'b').toLowerCase()]);
}

export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || port > 65535) throw new Error(`expected a port number 0-65535, got "${text}"`);
  return port;
}

export function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1) throw new Error(`expected a whole number of at least 1, got "${text}"`);
  return n;
}

/** A whole number from 0 to `max`. */
export function parseCount(max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n > max) throw new Error(`expected a whole number from 0 to ${max}, got "${text}"`);
    return n;
  };
}

export function parseBoolean(text: string): boolean {
  if (/^(1|true|yes|on)$/i.test(text.trim())) return true;
  if (/^(0|false|no|off)$/i.test(text.trim())) return false;
  throw new Error(`expected true or false, got "${text}"`);
}

export function parseList(text: string): readonly string[] {
  return text.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/** A share of a whole: `0.9` or `90%`, above 0 and at most 1. */
export function parseFraction(text: string): number {
  const trimmed = text.trim();
  const value = trimmed.endsWith('%') ? Number(trimmed.slice(0, -1)) / 100 : Number(trimmed);
  if (!trimmed || !Number.isFinite(value) || value <= 0 || value > 1) throw new Error(`expected a fraction above 0 and at most 1 (0.9) or a percentage (90%), got "${text}"`);
  return value;
}
