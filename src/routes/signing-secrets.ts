/**
 * Per-route signing secrets (Standard Webhooks `whsec_...`), several at once for rotation, and the
 * server's ECDSA P-256 key for SendGrid-style signatures. Secret values are shown once when made.
 */
import { createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { Redis } from '../store/redis-client.ts';
import type { KeySpace } from '../store/keys.ts';

export interface SecretInfo {
  readonly id: string;
  readonly created_at: string;
}

export interface NewSecret extends SecretInfo {
  /** `whsec_` + base64 of 32 random bytes; the HMAC key is the decoded bytes. */
  readonly secret: string;
}

export interface SigningSecrets {
  /** Ids and creation times only: secret values are never shown again. */
  list(hostname: string): Promise<SecretInfo[]>;
  add(hostname: string): Promise<NewSecret>;
  /** Resolves false when the id was not found. */
  remove(hostname: string, id: string): Promise<boolean>;
  /**
   * HMAC keys of every active secret, for signing, as KeyObjects: createHmac takes one about three
   * times faster than raw bytes (node validates a Buffer key on every call).
   */
  keysFor(hostname: string): Promise<KeyObject[]>;
}

/** Hash: secret id -> `{secret, created_at}` JSON, of one route. */
export const routeSecretsKey = (keys: KeySpace, hostname: string) => `${keys.prefix}:route-secrets:${hostname}`;
const secretsKey = routeSecretsKey;

/** A new secret and the hash field value it is stored as. */
export function newSigningSecret(): { secret: NewSecret; stored: string } {
  const secret: NewSecret = { id: `sec_${randomBytes(6).toString('hex')}`, created_at: new Date().toISOString(), secret: `whsec_${randomBytes(32).toString('base64')}` };
  return { secret, stored: JSON.stringify({ secret: secret.secret, created_at: secret.created_at }) };
}

/** Secret values seen lately and their KeyObjects; a rotated-out secret falls out with the rest. */
const KEY_CACHE_LIMIT = 10_000;

export function createSigningSecrets(redis: Redis, keys: KeySpace): SigningSecrets {
  const keyObjects = new Map<string, KeyObject>();
  const keyObject = (secret: string) => {
    let key = keyObjects.get(secret);
    if (!key) {
      if (keyObjects.size >= KEY_CACHE_LIMIT) keyObjects.clear();
      key = createSecretKey(Buffer.from(secret.replace(/^whsec_/, ''), 'base64'));
      keyObjects.set(secret, key);
    }
    return key;
  };
  const readAll = async (hostname: string) =>
    Object.entries(await redis.hgetall(secretsKey(keys, hostname))).map(([id, json]) => ({ id, ...(JSON.parse(json) as { secret: string; created_at: string }) }));
  return {
    async list(hostname) {
      return (await readAll(hostname)).map(({ id, created_at }) => ({ id, created_at })).sort((a, b) => a.created_at.localeCompare(b.created_at));
    },
    async add(hostname) {
      const { secret, stored } = newSigningSecret();
      await redis.hset(secretsKey(keys, hostname), secret.id, stored);
      return secret;
    },
    async remove(hostname, id) {
      return (await redis.hdel(secretsKey(keys, hostname), id)) === 1;
    },
    async keysFor(hostname) {
      return (await readAll(hostname)).map((s) => keyObject(s.secret));
    },
  };
}

/** The server-wide ECDSA P-256 key pair; the first process to need it makes it (SET NX). */
export async function loadEcdsaKey(redis: Redis, keys: KeySpace): Promise<{ privateKey: KeyObject; publicKeyBase64: string }> {
  const keyName = `${keys.prefix}:ecdsa-private-key`;
  // Made only when there is none yet (a key pair costs milliseconds; /signed asks for this each time).
  let pem = await redis.get(keyName);
  if (!pem) {
    const candidate = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await redis.set(keyName, candidate, 'NX');
    pem = await redis.get(keyName);
  }
  if (!pem) throw new Error('ECDSA key vanished from Redis');
  const privateKey = createPrivateKey(pem);
  // SendGrid serves its key as base64 DER SubjectPublicKeyInfo; so do we.
  const publicKeyBase64 = createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
  return { privateKey, publicKeyBase64 };
}
