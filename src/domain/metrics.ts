/**
 * What the pipeline reports for /metrics, as narrow interfaces the stages are handed (the SMTP
 * intake and the delivery worker never import the metrics library; app/metrics.ts implements
 * these with prom-client). Every method is optional to call: tests and tools pass nothing.
 */

export interface SmtpMetrics {
  /** A message answered 250 and stored; `bytes` as stored (our Received: header included). */
  accepted(bytes: number): void;
  /**
   * A refusal at any stage: `reply` is the SMTP code (550, 451, ...), `reason` our error code,
   * `hostname` the recipient's domain for a refused recipient (the overview's and the event webhook's refusal counts; not on /metrics).
   */
  rejected(reply: number, reason: string, hostname?: string): void;
}

export type AttemptOutcome = 'delivered' | 'retry' | 'permanent';

export interface DeliveryMetrics {
  /** One POST attempt: its outcome, how long it took and the request body's size. */
  attempt(outcome: AttemptOutcome, durationMs: number, bytesSent: number): void;
  /** A delivery done: time from the message's receipt (end of DATA) to the app's 2xx. */
  delivered(sinceReceivedMs: number): void;
}
