/**
 * `mxhook health`: exit 0 when this machine's mxhook API answers `/healthz` with 200, else 1. Reads
 * the URL the running API wrote into the data directory (so `--api-port` or `MXHOOK_API_PORT`,
 * whichever set it, is followed), falling back to the configured host and port. The healthcheck
 * of the Docker image and compose.yaml.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config/schema.ts';
import { API_URL_FILE, localApiUrl } from '../api-url.ts';
import type { Output } from './with-redis.ts';

const HEALTH_TIMEOUT_MS = 4000;

export async function runHealthCommand(config: Config, output: Output): Promise<number> {
  const written = await readFile(path.join(config.dataDir, API_URL_FILE), 'utf8').catch(() => '');
  const base = written.trim() || localApiUrl(config.apiHost, config.apiPort);
  try {
    const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    const body = await res.text();
    if (res.status === 200) {
      output.out(`ok: ${base}/healthz\n`);
      return 0;
    }
    output.err(`mxhook: ${base}/healthz answered ${res.status} ${body}\n`);
  } catch (err) {
    output.err(`mxhook: ${base}/healthz: ${(err as Error).message}\n`);
  }
  return 1;
}
