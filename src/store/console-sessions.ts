/**
 * Web console sessions: a random id in an HttpOnly cookie, and in Redis only its sha256 (someone
 * who can read Redis still cannot take over a session) with the session's CSRF token. Sessions
 * end after `idleMs` without use and never outlive `maxAgeMs`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from './redis-client.ts';
import type { KeySpace } from './keys.ts';

export interface ConsoleSession {
  readonly csrfToken: string;
  readonly createdAt: number;
}

export interface SessionPolicy {
  readonly idleMs: number;
  readonly maxAgeMs: number;
}

const sessionKey = (keys: KeySpace, id: string) => `${keys.prefix}:ui:session:${createHash('sha256').update(id).digest('hex')}`;

/** Ids are 32 random bytes, base64url: 43 characters. Anything else is not looked up. */
const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export async function createSession(redis: Redis, keys: KeySpace, policy: SessionPolicy, now = Date.now()): Promise<{ id: string; session: ConsoleSession }> {
  const id = randomBytes(32).toString('base64url');
  const session: ConsoleSession = { csrfToken: randomBytes(32).toString('base64url'), createdAt: now };
  await redis.set(sessionKey(keys, id), JSON.stringify(session), 'PX', Math.min(policy.idleMs, policy.maxAgeMs));
  return { id, session };
}

/** The session for a cookie value, its idle timer pushed back; undefined when unknown or expired. */
export async function readSession(redis: Redis, keys: KeySpace, id: string | undefined, policy: SessionPolicy, now = Date.now()): Promise<ConsoleSession | undefined> {
  if (!id || !ID_SHAPE.test(id)) return undefined;
  const key = sessionKey(keys, id);
  const text = await redis.get(key);
  if (!text) return undefined;
  const session = JSON.parse(text) as ConsoleSession;
  const left = session.createdAt + policy.maxAgeMs - now;
  if (left <= 0) {
    await redis.del(key);
    return undefined;
  }
  await redis.pexpire(key, Math.min(policy.idleMs, left));
  return session;
}

export async function deleteSession(redis: Redis, keys: KeySpace, id: string | undefined): Promise<void> {
  if (id && ID_SHAPE.test(id)) await redis.del(sessionKey(keys, id));
}

/** Constant-time comparison of the CSRF header with the session's token. */
export function csrfMatches(session: ConsoleSession, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header) return false;
  const given = Buffer.from(header);
  const expected = Buffer.from(session.csrfToken);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
