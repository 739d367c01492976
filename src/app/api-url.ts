/**
 * Where a process on this machine finds the API: the file the api role writes in the data
 * directory while it listens, and the URL a bind address is reached at. Kept apart from the api
 * role so worker-only processes and CLI commands read it without loading Fastify.
 */

/** In the data directory while the API listens: its URL, for `mxhook health` and attachment links. */
export const API_URL_FILE = 'api.url';

/** The API as a process on this machine reaches it: a wildcard bind address means loopback. */
export function localApiUrl(host: string, port: number): string {
  const reach = ['0.0.0.0', '::', ''].includes(host) ? '127.0.0.1' : host;
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`;
}

/** True for a URL whose host is a loopback address or localhost (reachable only from this machine). */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1';
}
