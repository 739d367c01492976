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

/**
 * A request body's `url` as answered (the stored URL with its password masked) is put back to the
 * stored URL: a client that GETs a setting and sends it back keeps the password. An object is
 * always copied (callers may change the copy); anything else is returned as is.
 */
export function restoreMaskedPassword(body: unknown, storedUrl: string): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  if ('url' in copy && copy.url !== storedUrl && copy.url === maskUrlPassword(storedUrl)) copy.url = storedUrl;
  return copy;
}
