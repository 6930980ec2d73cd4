import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { ExecutionStore, WebhookDelivery } from '../store/execution-store.js';
import { guardedLookup, isPrivateAddress } from './callback-guard.js';
import type { ExecutionMetrics } from './execution-metrics.js';

export const SIGNATURE_HEADER = 'x-boxrun-signature';

export interface WebhookSenderOptions {
  store: ExecutionStore;
  secret: string;
  maxAttempts: number;
  backoffMs: number;
  timeoutMs: number;
  allowPrivate: boolean;
  logger: Logger;
  metrics: ExecutionMetrics;
  /** What to send for an execution (its public view, POSTed), or null when it is gone. */
  payloadFor: (executionId: string) => Promise<WebhookPayload | null>;
}

export interface WebhookPayload {
  method: 'POST' | 'PUT';
  body: unknown;
}

/** `sha256=<hex of HMAC-SHA256(secret, body)>`, as receivers check it. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

interface PostOutcome {
  status: number | null;
  error: string | null;
}

/**
 * Delivers results to callback URLs: POST with the signature header, retried with exponential
 * backoff (backoffMs × 2^(attempt-1)) on network errors, 408, 429 and 5xx; other 4xx answers end it.
 * Every attempt's outcome is written to the store, so deliveries pending at a restart resume.
 */
export class WebhookSender {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly options: WebhookSenderOptions) {}

  /** Schedules the first attempt for a finished execution that has a callback URL. */
  async enqueue(executionId: string, url: string): Promise<void> {
    const delivery: WebhookDelivery = {
      executionId,
      url,
      state: 'pending',
      attempts: 0,
      lastStatus: null,
      lastError: null,
      nextAttemptAt: Date.now(),
      deliveredAt: null,
    };
    await this.options.store.saveDelivery(delivery);
    this.schedule(delivery);
  }

  /** Picks up deliveries left pending by a previous process. */
  async resumePending(): Promise<number> {
    const pending = await this.options.store.pendingDeliveries();
    for (const d of pending) this.schedule(d);
    return pending.length;
  }

  private schedule(delivery: WebhookDelivery): void {
    if (this.closed) return;
    const delay = Math.max(0, (delivery.nextAttemptAt ?? Date.now()) - Date.now());
    const timer = setTimeout(() => {
      this.timers.delete(delivery.executionId);
      const p = this.attempt(delivery).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }, delay);
    timer.unref();
    this.timers.set(delivery.executionId, timer);
  }

  private async attempt(delivery: WebhookDelivery): Promise<void> {
    const { logger, metrics, store } = this.options;
    let payload: WebhookPayload | null;
    try {
      payload = await this.options.payloadFor(delivery.executionId);
    } catch (error) {
      // The record cannot be read now (store down): try again later, the attempt not counted.
      logger.warn({ err: error, executionId: delivery.executionId }, 'webhook payload unavailable');
      this.schedule({ ...delivery, nextAttemptAt: Date.now() + this.options.backoffMs });
      return;
    }
    if (payload === null) return;
    const body = JSON.stringify(payload.body);
    const attempt = delivery.attempts + 1;
    const outcome = await this.post(delivery.url, payload.method, body, delivery.executionId, attempt);
    const ok = outcome.status !== null && outcome.status >= 200 && outcome.status < 300;
    const retryable =
      !ok &&
      (outcome.status === null || outcome.status === 408 || outcome.status === 429 || outcome.status >= 500);
    const exhausted = attempt >= this.options.maxAttempts;
    const next: WebhookDelivery = {
      ...delivery,
      attempts: attempt,
      lastStatus: outcome.status,
      lastError: outcome.error,
      state: ok ? 'delivered' : retryable && !exhausted ? 'pending' : 'failed',
      nextAttemptAt:
        ok || !retryable || exhausted ? null : Date.now() + this.options.backoffMs * 2 ** (attempt - 1),
      deliveredAt: ok ? Date.now() : null,
    };
    metrics.webhookAttempts.inc({ outcome: next.state === 'pending' ? 'retry' : next.state });
    logger.info(
      {
        webhook: true,
        executionId: delivery.executionId,
        attempt,
        status: outcome.status,
        error: outcome.error,
        state: next.state,
      },
      'webhook attempt',
    );
    try {
      await store.saveDelivery(next);
    } catch (error) {
      logger.error({ err: error, executionId: delivery.executionId }, 'cannot record webhook delivery');
    }
    if (next.state === 'pending') this.schedule(next);
  }

  private post(
    url: string,
    method: WebhookPayload['method'],
    body: string,
    executionId: string,
    attempt: number,
  ): Promise<PostOutcome> {
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return resolve({ status: null, error: 'invalid URL' });
      }
      const host = target.hostname.replace(/^\[|\]$/g, '');
      // IP literals never go through `lookup`, so they are checked here.
      if (!this.options.allowPrivate && isIP(host) && isPrivateAddress(host)) {
        return resolve({ status: null, error: `refused private address ${host}` });
      }
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        target,
        {
          method,
          lookup: guardedLookup(this.options.allowPrivate),
          timeout: this.options.timeoutMs,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'boxrun-webhook/1',
            [SIGNATURE_HEADER]: signBody(this.options.secret, body),
            'x-boxrun-execution': executionId,
            'x-boxrun-attempt': String(attempt),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? null, error: null }));
          res.on('error', (error) => resolve({ status: res.statusCode ?? null, error: error.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)));
      req.on('error', (error) => resolve({ status: null, error: error.message }));
      req.end(body);
    });
  }

  /** Stops scheduling; waits for attempts in flight. Pending deliveries stay in the store. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.inflight]);
  }
}
