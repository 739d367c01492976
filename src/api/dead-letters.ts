/** Dead letters over the API: list (by hostname, paged), show, replay one or a route's, purge. */
import type { ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { AcceptMessage } from '../domain/message.ts';
import { normalizeHostname } from '../domain/address.ts';
import { replayDeadLetter } from '../queue/replay.ts';
import { deadLetterIds, deleteDeadLetter, getDeadLetter, listDeadLetters } from '../store/dead-letters.ts';
import type { KeySpace } from '../store/keys.ts';
import { fail, sendJson } from './http.ts';

export interface DeadLetterDeps {
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly accept: AcceptMessage;
}

const hostnameParam = (query: URLSearchParams) => {
  const raw = query.get('hostname');
  return raw ? normalizeHostname(raw) || fail('VALIDATION_FAILED', `invalid hostname: ${raw}`) : undefined;
};

export async function listDead(deps: DeadLetterDeps, query: URLSearchParams, res: ServerResponse): Promise<void> {
  const limit = Math.min(Math.max(Number(query.get('limit') ?? 50) || 50, 1), 500);
  const offset = Math.max(Number(query.get('offset') ?? 0) || 0, 0);
  sendJson(res, 200, await listDeadLetters(deps.redis, deps.keys, { hostname: hostnameParam(query), limit, offset }));
}

export async function showDead(deps: DeadLetterDeps, id: string, res: ServerResponse): Promise<void> {
  const letter = await getDeadLetter(deps.redis, deps.keys, id);
  if (!letter) fail('NOT_FOUND', `no dead letter ${id}`);
  sendJson(res, 200, letter);
}

export async function replayOne(deps: DeadLetterDeps, id: string, res: ServerResponse): Promise<void> {
  const deliveryId = await replayDeadLetter(deps.redis, deps.keys, deps.accept, id);
  if (!deliveryId) fail('NOT_FOUND', `no dead letter ${id}`);
  sendJson(res, 202, { replayed: [{ dead_letter: id, delivery_id: deliveryId }] });
}

export async function replayRoute(deps: DeadLetterDeps, query: URLSearchParams, res: ServerResponse): Promise<void> {
  const hostname = hostnameParam(query) ?? fail('VALIDATION_FAILED', 'hostname is required to replay a route');
  const replayed = [];
  for (const id of await deadLetterIds(deps.redis, deps.keys, hostname)) {
    const deliveryId = await replayDeadLetter(deps.redis, deps.keys, deps.accept, id);
    if (deliveryId) replayed.push({ dead_letter: id, delivery_id: deliveryId });
  }
  sendJson(res, 202, { replayed });
}

export async function purgeOne(deps: DeadLetterDeps, id: string, res: ServerResponse): Promise<void> {
  if (!(await deleteDeadLetter(deps.redis, deps.keys, id))) fail('NOT_FOUND', `no dead letter ${id}`);
  res.writeHead(204).end();
}

export async function purgeRoute(deps: DeadLetterDeps, query: URLSearchParams, res: ServerResponse): Promise<void> {
  const hostname = hostnameParam(query) ?? fail('VALIDATION_FAILED', 'hostname is required to purge a route');
  let purged = 0;
  for (const id of await deadLetterIds(deps.redis, deps.keys, hostname)) if (await deleteDeadLetter(deps.redis, deps.keys, id)) purged++;
  sendJson(res, 200, { purged });
}
