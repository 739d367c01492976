/** Hiding credentials in URLs before they are logged or printed. Pure. */

/**
 * `scheme://user:pass@host/...` -> `scheme://***@host/...`, and `?password=x` -> `?password=***`.
 * Greedy up to the last `@` before the path: a password may hold a raw `@` (ioredis accepts it).
 */
export function maskUrlCredentials(text: string): string {
  return text.replace(/\/\/[^/\s]*@/, '//***@').replace(/([?&]password=)[^&\s]*/gi, '$1***');
}

/**
 * A URL with its password (basic-auth credentials) replaced by `***`, the user name kept:
 * `https://user:pass@app/x` -> `https://user:***@app/x`. Text that is not a URL is returned as is.
 */
export function maskUrlPassword(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (!parsed.password) return url;
  parsed.password = '***';
  return parsed.href;
}
