import { FairQueue } from '../queue/fair-queue.js';
import type {
  CancelOutcome,
  ExecutionJob,
  JobConsumer,
  JobProducer,
  QueueDepth,
  RunJob,
} from './job-queue.js';

export interface InProcessJobQueueOptions {
  maxConcurrent: number;
  maxQueued: number;
  run: RunJob;
  onError: (job: ExecutionJob, error: unknown) => void;
}

/** Producer and consumer in one process over the fair queue (src/queue/fair-queue.ts): embedded mode. */
export class InProcessJobQueue implements JobProducer, JobConsumer {
  private readonly queue: FairQueue<ExecutionJob>;

  constructor(options: InProcessJobQueueOptions) {
    this.queue = new FairQueue<ExecutionJob>(options);
  }

  hasRoom(count: number): boolean {
    return this.queue.hasRoom(count);
  }

  /** Never refused here: admission reserved the room before writing the record. */
  async add(job: ExecutionJob): Promise<void> {
    this.queue.enqueue(job, { force: true });
  }

  async cancel(id: string, reason: unknown): Promise<CancelOutcome> {
    const outcome = this.queue.cancel(id, reason);
    if (!outcome) return null;
    return 'removed' in outcome ? { removed: true } : outcome;
  }

  depth(): QueueDepth {
    const q = this.queue;
    return { queued: q.queued, running: q.running, maxQueued: q.maxQueued, maxConcurrent: q.maxConcurrent };
  }

  async pause(): Promise<void> {
    this.queue.pause();
  }

  idle(timeoutMs: number): Promise<boolean> {
    return this.queue.idle(timeoutMs);
  }

  abortRunning(reason: unknown): Promise<void> {
    return this.queue.abortRunning(reason);
  }

  async close(): Promise<void> {
    this.queue.pause();
  }
}
