/**
 * Event-webhook destinations as the API, the CLI and the console manage them, written once:
 * validation (domain/event-webhook.ts), a signing secret made with each (shown once), masked
 * URLs, precise errors (catalogue codes thrown as MxhookError).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from '../store/redis-client.ts';
import { maskUrlPassword, restoreMaskedPassword } from '../config/redact.ts';
import { MxhookError } from '../domain/errors.ts';
import { validateEventDestination, type EventDestination } from '../domain/event-webhook.ts';
import {
  backlogSize, getEventDestination, listEventDestinations, putEventDestination, removeEventDestination,
} from '../store/event-destinations.ts';
import type { KeySpace } from '../store/keys.ts';

/** A destination as answered: URL password masked, with its count of events waiting to be sent. */
export interface EventDestinationView extends Omit<EventDestination, 'since'> {
  readonly backlog: number;
}

export interface EventDestinationAdmin {
  list(): Promise<EventDestinationView[]>;
  /** NOT_FOUND when there is none. */
  get(id: string): Promise<EventDestinationView>;
  /**
   * INVALID_EVENT_DESTINATION naming the field; EVENTS_NEED_MESSAGE_LOG when the log is off. The
   * Standard Webhooks secret (`whsec_...`) is returned here only.
   */
  create(input: unknown): Promise<{ destination: EventDestinationView; secret: string }>;
  update(id: string, input: unknown): Promise<EventDestinationView>;
  remove(id: string): Promise<void>;
}

const ID = /^evd_[0-9a-f]{12}$/;

export function createEventDestinationAdmin(redis: Redis, keys: KeySpace, options: { messageLog: boolean }): EventDestinationAdmin {
  const view = async (d: EventDestination): Promise<EventDestinationView> => ({
    id: d.id, url: maskUrlPassword(d.url), enabled: d.enabled, events: d.events, created_at: d.created_at, backlog: await backlogSize(redis, keys, d.id),
  });
  const require = async (id: string) => {
    const found = ID.test(id) ? await getEventDestination(redis, keys, id) : undefined;
    if (!found) throw new MxhookError('NOT_FOUND', { message: `no event destination ${id.slice(0, 80)}` });
    return found;
  };
  const validated = (input: unknown, existing?: EventDestination) => {
    const checked = validateEventDestination(input, existing);
    if (checked.errors) throw new MxhookError('INVALID_EVENT_DESTINATION', { fieldErrors: checked.errors });
    return checked.value;
  };
  return {
    async list() {
      return Promise.all((await listEventDestinations(redis, keys)).map(view));
    },
    async get(id) {
      return view(await require(id));
    },
    async create(input) {
      const value = validated(input);
      if (!options.messageLog) throw new MxhookError('EVENTS_NEED_MESSAGE_LOG');
      // Receives what is logged from now on: stream ids start with Redis's time in ms, so Redis's clock
      // says when now is (the API host's may differ).
      const [seconds, micros] = await redis.time();
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const destination: EventDestination = { id: `evd_${randomBytes(6).toString('hex')}`, ...value, created_at: new Date(now).toISOString(), since: `${now}-0` };
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      await putEventDestination(redis, keys, destination, secret);
      return { destination: await view(destination), secret };
    },
    async update(id, input) {
      const { secret, ...existing } = await require(id);
      const next: EventDestination = { ...existing, ...validated(restoreMaskedPassword(input, existing.url), existing) };
      await putEventDestination(redis, keys, next, secret);
      return view(next);
    },
    async remove(id) {
      await require(id);
      await removeEventDestination(redis, keys, id);
    },
  };
}
