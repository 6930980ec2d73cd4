import { IdleSignal } from './idle-signal.js';

/** What the queue needs to know about a job: who it belongs to, for fairness. */
export interface QueueJob {
  id: string;
  /** Jobs of one lane run in order; lanes take turns (see FairQueue). */
  lane: string;
}

export interface FairQueueOptions<T extends QueueJob> {
  maxConcurrent: number;
  maxQueued: number;
  /** Runs one job; the signal aborts when the job is canceled or the queue is stopping. */
  run: (job: T, signal: AbortSignal) => Promise<void>;
  /** Called for a job's failure that `run` did not handle (a bug): logged, never thrown. */
  onError?: (job: T, error: unknown) => void;
}

/**
 * The in-process queue. Fairness policy: every caller's single requests form one lane and every
 * batch forms its own lane. When a slot frees, the lane served least recently goes next (a new lane
 * counts as never served), each lane's jobs in submission order. So lanes take turns round-robin: a
 * 1000-request batch gets its share of the slots, while a single request arriving meanwhile starts
 * as soon as one slot frees, not after the batch has drained.
 */
export class FairQueue<T extends QueueJob> {
  /** Lanes in creation order, each with the dispatch number it was last served at (-1: never). */
  private readonly lanes = new Map<string, { jobs: T[]; lastServed: number }>();
  private dispatched = 0;
  private queuedCount = 0;
  private readonly active = new Map<string, { job: T; controller: AbortController; done: Promise<void> }>();
  private paused = false;
  private readonly idleSignal = new IdleSignal();

  constructor(private readonly options: FairQueueOptions<T>) {}

  get queued(): number {
    return this.queuedCount;
  }

  get running(): number {
    return this.active.size;
  }

  get maxQueued(): number {
    return this.options.maxQueued;
  }

  get maxConcurrent(): number {
    return this.options.maxConcurrent;
  }

  /** Whether `count` more jobs fit without exceeding maxQueued (free slots count as room). */
  hasRoom(count: number): boolean {
    const freeSlots = this.paused ? 0 : Math.max(0, this.options.maxConcurrent - this.active.size);
    return this.queuedCount + count <= this.options.maxQueued + freeSlots;
  }

  /** `force` skips the room check (jobs recovered from the store at start). */
  enqueue(job: T, options: { force?: boolean } = {}): void {
    if (!options.force && !this.hasRoom(1)) throw new Error('queue is full');
    let lane = this.lanes.get(job.lane);
    if (!lane) {
      lane = { jobs: [], lastServed: -1 };
      this.lanes.set(job.lane, lane);
    }
    lane.jobs.push(job);
    this.queuedCount++;
    this.dispatch();
  }

  isQueued(id: string): boolean {
    for (const lane of this.lanes.values()) if (lane.jobs.some((j) => j.id === id)) return true;
    return false;
  }

  isRunning(id: string): boolean {
    return this.active.has(id);
  }

  /** Removes a queued job (returns it) or aborts a running one (returns its completion). */
  cancel(id: string, reason: unknown): { removed: T } | { stopping: Promise<void> } | null {
    for (const lane of this.lanes.values()) {
      const i = lane.jobs.findIndex((j) => j.id === id);
      if (i >= 0) {
        const [removed] = lane.jobs.splice(i, 1);
        this.queuedCount--;
        this.forgetIdleLanes();
        return { removed: removed! };
      }
    }
    const running = this.active.get(id);
    if (running) {
      running.controller.abort(reason);
      return { stopping: running.done };
    }
    return null;
  }

  /** Stop starting jobs (shutdown); running ones go on. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.dispatch();
  }

  /** Aborts every running job; resolves when they have all returned. */
  async abortRunning(reason: unknown): Promise<void> {
    const done = [...this.active.values()].map((a) => {
      a.controller.abort(reason);
      return a.done;
    });
    await Promise.all(done);
  }

  /** Resolves when nothing runs (or after `timeoutMs`); returns whether it got idle. */
  idle(timeoutMs: number): Promise<boolean> {
    return this.idleSignal.wait(this.active.size === 0, timeoutMs);
  }

  /**
   * An emptied lane keeps its turn history while anything waits or runs (a batch whose first job
   * just started must not count as new); when all is idle, or too many lanes pile up, it goes.
   */
  private forgetIdleLanes(): void {
    if (this.queuedCount === 0 && this.active.size === 0) this.lanes.clear();
    else if (this.lanes.size > 10_000) {
      for (const [name, lane] of this.lanes) if (lane.jobs.length === 0) this.lanes.delete(name);
    }
  }

  private next(): T | undefined {
    let chosen: [string, { jobs: T[]; lastServed: number }] | undefined;
    for (const entry of this.lanes) {
      if (entry[1].jobs.length === 0) continue;
      if (!chosen || entry[1].lastServed < chosen[1].lastServed) chosen = entry;
    }
    if (!chosen) return undefined;
    const lane = chosen[1];
    const job = lane.jobs.shift()!;
    lane.lastServed = this.dispatched++;
    this.queuedCount--;
    return job;
  }

  private dispatch(): void {
    while (!this.paused && this.active.size < this.options.maxConcurrent) {
      const job = this.next();
      if (!job) return;
      const controller = new AbortController();
      let running: Promise<void>;
      try {
        // Called synchronously, so a cancel right after enqueue finds the job running with a signal.
        running = this.options.run(job, controller.signal);
      } catch (error) {
        running = Promise.reject(error);
      }
      const done = running
        .catch((error) => this.options.onError?.(job, error))
        .finally(() => {
          this.active.delete(job.id);
          this.forgetIdleLanes();
          if (this.active.size === 0) {
            this.idleSignal.notify();
          }
          this.dispatch();
        });
      this.active.set(job.id, { job, controller, done });
    }
  }
}
