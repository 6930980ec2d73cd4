import type { Logger } from 'pino';
import { type BoxrunErrorCode, isBoxrunError } from '../core/errors.js';
import type { Executor } from '../core/executor.js';
import type { ExecutionRequestInput } from '../core/request.js';
import type { ExecutionResult } from '../core/result.js';
import type { ExecutionFailure, ExecutionRecord, ExecutionStore } from '../store/execution-store.js';
import type { ExecutionMetrics } from './execution-metrics.js';
import type { LiveEvents } from './live-events.js';

const ENGINE_CODES = new Set<BoxrunErrorCode>(['ENGINE_UNAVAILABLE', 'IMAGE_NOT_FOUND', 'SANDBOX_FAILED']);

export type Outcome = { result: ExecutionResult } | { error: ExecutionFailure };

export interface ExecutionRunnerOptions {
  executor: Executor;
  store: ExecutionStore;
  events: LiveEvents;
  logger: Logger;
  metrics: ExecutionMetrics;
  /** The abort reason a forced shutdown uses: such a run goes back to queued instead of failing. */
  shutdownReason: unknown;
  /** An engine error was seen: re-check the engine's health now. */
  onEngineError: () => void;
  /**
   * Cluster workers: a job found stalled (its worker died) runs again, running → running with one
   * more attempt, and only the latest attempt's result is written.
   */
  rerunStalled?: boolean;
  /** After `done` is published: the node forgets the live copy, counts, audits, schedules the webhook. */
  onFinished: (record: ExecutionRecord) => void;
}

/**
 * The worker side of the lifecycle, one execution at a time: queued → running in the store, run on
 * the executor with its output published as live events, the outcome written, `done` published.
 * The record it is given is the node's live copy and is updated in place.
 */
export class ExecutionRunner {
  constructor(private readonly options: ExecutionRunnerOptions) {}

  /**
   * Runs `record`; resolves with the finished record, `requeued` when a shutdown stopped it (it is
   * queued again in the store), or `lost` with the store's error when it could not be marked running
   * (it stays queued in the store and runs after a restart).
   */
  async run(
    record: ExecutionRecord,
    signal: AbortSignal,
  ): Promise<'finished' | 'requeued' | { lost: unknown }> {
    const { store, events, executor, logger, metrics } = this.options;
    const startedAt = Date.now();
    try {
      record.attempts = await store.markRunning(
        record.id,
        startedAt,
        this.options.rerunStalled ? { rerun: true } : undefined,
      );
    } catch (error) {
      logger.error({ err: error, executionId: record.id }, 'cannot mark execution running');
      return { lost: error };
    }
    record.state = 'running';
    record.startedAt = startedAt;
    metrics.queueWait.observe((startedAt - record.createdAt) / 1000);
    events.publish(record.id, { type: 'status', status: 'running' });
    let outcome: Outcome;
    try {
      const result = await executor.execute(record.request as ExecutionRequestInput, {
        signal,
        id: record.id,
        onOutput: (stream, chunk) => {
          events.publish(record.id, { type: 'output', stream, data: Buffer.from(chunk) });
        },
      });
      outcome = { result };
    } catch (error) {
      if (signal.aborted && signal.reason === this.options.shutdownReason) {
        await this.requeue(record);
        return 'requeued';
      }
      outcome = { error: this.failure(error, record.id) };
    }
    await this.finish(record, outcome);
    return 'finished';
  }

  /** Writes the outcome (once: the store refuses a second) and publishes `done`. */
  async finish(record: ExecutionRecord, outcome: Outcome): Promise<void> {
    const finishedAt = Date.now();
    try {
      const written = await this.options.store.finish(
        record.id,
        outcome,
        finishedAt,
        this.options.rerunStalled ? record.attempts : undefined,
      );
      if (!written && this.options.rerunStalled)
        this.options.logger.warn(
          { executionId: record.id },
          'a result was already recorded; this one is dropped',
        );
    } catch (error) {
      // The answer still goes to whoever waits; the store keeps it `running`, so a restart
      // re-queues or fails it according to server.recoverRunning.
      this.options.logger.error({ err: error, executionId: record.id }, 'cannot record the result');
    }
    record.state = 'done';
    record.finishedAt = finishedAt;
    if ('result' in outcome) record.result = outcome.result;
    else record.error = outcome.error;
    this.options.events.publish(record.id, { type: 'done', record });
    this.options.onFinished(record);
  }

  private failure(error: unknown, id: string): ExecutionFailure {
    const code: BoxrunErrorCode = isBoxrunError(error) ? error.code : 'INTERNAL';
    if (ENGINE_CODES.has(code)) {
      this.options.metrics.engineErrors.inc({ code });
      if (code === 'ENGINE_UNAVAILABLE') this.options.onEngineError();
    }
    if (!isBoxrunError(error)) this.options.logger.error({ err: error, executionId: id }, 'execution failed');
    return {
      code,
      message:
        code === 'CANCELED'
          ? 'canceled by the caller'
          : isBoxrunError(error)
            ? error.message
            : 'internal error',
    };
  }

  private async requeue(record: ExecutionRecord): Promise<void> {
    try {
      await this.options.store.requeue(record.id);
    } catch (error) {
      this.options.logger.error({ err: error, executionId: record.id }, 'cannot re-queue at shutdown');
    }
    record.state = 'queued';
    record.startedAt = null;
    this.options.logger.info({ executionId: record.id }, 'stopped by shutdown; re-queued for the next start');
  }
}
