/**
 * The console's one way to the server: same-origin requests carrying the session cookie, and the
 * session's CSRF token on every request that changes something.
 */
export const BASE = '/v3/user/webhooks/parse';

let csrfToken = '';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Handlers for an expired session: the app shows the login form again. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

export async function request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (res.status === 401 && !path.startsWith('/ui/session')) onUnauthorized();
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  if (!res.ok) {
    const errors = (json as { errors?: { field?: string | null; message?: string }[] } | undefined)?.errors;
    const message = errors?.length ? errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ') : `HTTP ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return json as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
};

/** Whether a session exists (the cookie is HttpOnly: only the server can tell). */
export async function resumeSession(): Promise<boolean> {
  try {
    const session = await request<{ csrf_token: string }>('GET', '/ui/session');
    csrfToken = session.csrf_token;
    return true;
  } catch {
    return false;
  }
}

export async function logIn(apiKey: string): Promise<void> {
  const session = await request<{ csrf_token: string }>('POST', '/ui/session', { api_key: apiKey });
  csrfToken = session.csrf_token;
}

export async function logOut(): Promise<void> {
  try { await request('DELETE', '/ui/session'); } finally { csrfToken = ''; }
}

export const enc = encodeURIComponent;
