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
  /**
   * One entry per destination: per hostname route, and under it per address rule (and plus tag)
   * that matched, each with its own recipients. Delivery n is entry n - 1.
   */
  readonly deliveries: readonly DeliveryTarget[];
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

/** One delivery of a message: the route, the recipients it carries and the address rule that made it. */
export interface DeliveryTarget {
  readonly hostname: string;
  readonly recipients: readonly string[];
  /** The address rule's match pattern (address-rules.ts); absent: the hostname's url. */
  readonly rule?: string | undefined;
  /** The plus tag of a `reply+*` rule, posted as `mailbox_hash`. */
  readonly mailboxHash?: string | undefined;
  /** The rule's URL at accept time (password masked), for the message log. */
  readonly url?: string | undefined;
}

/**
 * The delivery `deliveryId` of a stored message: its own entry when the message has rule
 * deliveries, else the hostname's recipients (one delivery per hostname, as before rules).
 */
export function deliveryOf(meta: StoredMessageMeta, deliveryId: string, hostname: string): DeliveryTarget {
  const n = Number(deliveryId.slice(deliveryId.lastIndexOf('.') + 1));
  const own = meta.deliveries?.[n - 1];
  if (own && own.hostname === hostname) return own;
  return { hostname, recipients: meta.recipients[hostname] ?? [] };
}

/** Recipients per hostname of a message's deliveries (several deliveries may share a hostname). */
export function recipientsByHostname(deliveries: readonly DeliveryTarget[]): Record<string, string[]> {
  const all: Record<string, string[]> = {};
  for (const d of deliveries) (all[d.hostname] ??= []).push(...d.recipients);
  return all;
}

/** The deliveries as kept in the message's meta: only when a rule made one (else the per-hostname shape says it all). */
export function ruleDeliveries(deliveries: readonly DeliveryTarget[]): { deliveries?: readonly DeliveryTarget[] } {
  return deliveries.some((d) => d.rule !== undefined) ? { deliveries } : {};
}

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
  /** Each delivery's own target, when address rules split the message (see deliveryOf). */
  readonly deliveries?: readonly DeliveryTarget[];
  /** Delivery id of the dead letter this message replays. */
  readonly replayOf?: string;
  /** SPF/DKIM/DMARC/ARC verdicts from SMTP time; absent when the checks are off. */
  readonly auth?: AuthVerdicts;
}
