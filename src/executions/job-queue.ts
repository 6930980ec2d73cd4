/** One accepted execution as the queue sees it: its id, and who it belongs to (for fairness). */
export interface ExecutionJob {
  id: string;
  /** Jobs of one lane run in order; lanes take turns (a caller's single requests, or one batch). */
  lane: string;
  caller: string;
}

export interface QueueDepth {
  queued: number;
  running: number;
  maxQueued: number;
  maxConcurrent: number;
}

/** What a cancel found: a queued job taken off the queue, or a running one being stopped. */
export type CancelOutcome = { removed: true } | { stopping: Promise<void> } | null;

/**
 * The producer side (BullMQ's Queue): admission adds accepted executions, whose records are already
 * in the store. Implementations: InProcessJobQueue (embedded, the fair queue) and the Redis one.
 */
export interface JobProducer {
  /** Whether `count` more jobs fit under the queue's limit. */
  hasRoom(count: number): boolean;
  add(job: ExecutionJob): Promise<void>;
  /** Takes a queued job off, or asks whoever runs it to stop. */
  cancel(id: string, reason: unknown): Promise<CancelOutcome>;
  depth(): QueueDepth;
}

/** What a consumer does with one job; the signal aborts on cancel or a forced shutdown. */
export type RunJob = (job: ExecutionJob, signal: AbortSignal) => Promise<void>;

/** The worker side (BullMQ's Worker): takes jobs and runs them with `RunJob`. */
export interface JobConsumer {
  /** Stop taking jobs; running ones go on. */
  pause(): Promise<void>;
  /** Resolves true when nothing runs, false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean>;
  /** Aborts every running job with `reason`; resolves when they have all returned. */
  abortRunning(reason: unknown): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
