/** Types shared along the pipeline: what intake hands to the store, and what a delivery job carries. */
import type { AuthVerdicts } from './auth.ts';
import { randomHex } from './random.ts';
import type { ParseSetting } from './route.ts';

import type { Readable } from 'node:stream';

/** Time-ordered (base36 milliseconds) plus 64 random bits: unique across SMTP nodes. */
export function newMessageId(): string {
  return `${Date.now().toString(36)}${randomHex(8)}`;
}

/**
 * A delivery id, which is also its dead letter's id: `<message id>.<n>`, n counting the message's
 * routes from 1 (queue/delivery-queue.ts deliveryId). The same pattern validates API paths.
 */
export const DELIVERY_ID_PATTERN = '^[0-9a-z]{1,40}\\.[1-9][0-9]{0,3}$';
const deliveryIdPattern = new RegExp(DELIVERY_ID_PATTERN);

/** Whether `id` has a delivery id's form (ids are Redis key suffixes: nothing else may pass). */
export function isDeliveryId(id: string): boolean {
  return deliveryIdPattern.test(id);
}

/** One message as SMTP intake accepted it, `Received:` already prepended. */
export interface IncomingMessage {
  readonly id: string;
  readonly raw: Buffer;
  /** MAIL FROM; '' for the null sender. */
  readonly mailFrom: string;
  readonly clientIp: string;
  readonly helo: string;
  readonly receivedAt: number;
  /** One entry per hostname route the message goes to, with that route's recipients. */
  readonly deliveries: readonly { readonly hostname: string; readonly recipients: readonly string[] }[];
  /** Set when this is a replay of a dead letter: its delivery id (not counted as received again). */
  readonly replayOf?: string;
  /** SPF/DKIM/DMARC/ARC verdicts from SMTP time; absent when the checks are off. */
  readonly auth?: AuthVerdicts;
  /**
   * Set for a large message whose first bytes were staged while it arrived (MessageStage): how
   * many; `raw` then holds only the rest, and storing it joins the two.
   */
  readonly staged?: number;
}

/**
 * A large message on its way in: its bytes go to the store as they arrive, so the SMTP process
 * never holds it whole. Nothing staged is visible as a message until AcceptMessage stores it.
 */
export interface MessageStage {
  append(bytes: Buffer): Promise<void>;
  /** The staged bytes from `offset` on (the authentication checks read the body back). */
  read(offset: number): Readable;
  /** Drops what was staged (refused, or the client went away). */
  discard(): Promise<void>;
}

/** Opens the stage of the message with this id. */
export type StageMessage = (messageId: string) => MessageStage;

/** Stores the message and its delivery jobs in one step; rejects when that cannot be done. */
export type AcceptMessage = (message: IncomingMessage) => Promise<void>;

/** Finds the route for a hostname (already normalised); `undefined` when none is registered. */
export type LookupRoute = (hostname: string) => Promise<ParseSetting | undefined>;

/** A BullMQ delivery job's data: ids only, never the message. */
export interface DeliveryJobData {
  readonly messageId: string;
  readonly hostname: string;
}

/** Envelope and trace data kept beside the raw message. */
export interface StoredMessageMeta {
  readonly mailFrom: string;
  readonly clientIp: string;
  readonly helo: string;
  readonly receivedAt: number;
  readonly size: number;
  /** Recipients per hostname. */
  readonly recipients: Readonly<Record<string, readonly string[]>>;
  /** Delivery id of the dead letter this message replays. */
  readonly replayOf?: string;
  /** SPF/DKIM/DMARC/ARC verdicts from SMTP time; absent when the checks are off. */
  readonly auth?: AuthVerdicts;
}
