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
 * batch forms its own lane; when a slot frees, the lanes take turns (round-robin), each lane's jobs
 * in submission order. So a 1000-request batch gets at most its fair share of the slots while a
 * single request waits for one slot to free, not for the batch to drain.
 */
export class FairQueue<T extends QueueJob> {
  private readonly lanes = new Map<string, T[]>();
  /** Lanes in turn order; the next lane to serve is at `turn`. */
  private order: string[] = [];
  private turn = 0;
  private queuedCount = 0;
  private readonly active = new Map<string, { job: T; controller: AbortController; done: Promise<void> }>();
  private paused = false;
  private idleWaiters: (() => void)[] = [];

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
      lane = [];
      this.lanes.set(job.lane, lane);
      // A new lane goes last in the turn order: it has not waited the longest.
      this.order.splice(this.turn, 0, job.lane);
      this.turn = (this.turn + 1) % this.order.length;
    }
    lane.push(job);
    this.queuedCount++;
    this.dispatch();
  }

  isQueued(id: string): boolean {
    for (const lane of this.lanes.values()) if (lane.some((j) => j.id === id)) return true;
    return false;
  }

  isRunning(id: string): boolean {
    return this.active.has(id);
  }

  /** Removes a queued job (returns it) or aborts a running one (returns its completion). */
  cancel(id: string, reason: unknown): { removed: T } | { stopping: Promise<void> } | null {
    for (const [name, lane] of this.lanes) {
      const i = lane.findIndex((j) => j.id === id);
      if (i >= 0) {
        const [removed] = lane.splice(i, 1);
        this.queuedCount--;
        if (lane.length === 0) this.dropLane(name);
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
    if (this.active.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(waiter);
    });
  }

  private dropLane(name: string): void {
    this.lanes.delete(name);
    const i = this.order.indexOf(name);
    this.order.splice(i, 1);
    if (i < this.turn) this.turn--;
    if (this.turn >= this.order.length) this.turn = 0;
  }

  private next(): T | undefined {
    if (this.order.length === 0) return undefined;
    const name = this.order[this.turn]!;
    const lane = this.lanes.get(name)!;
    const job = lane.shift()!;
    this.queuedCount--;
    if (lane.length === 0) this.dropLane(name);
    else this.turn = (this.turn + 1) % this.order.length;
    return job;
  }

  private dispatch(): void {
    while (!this.paused && this.active.size < this.options.maxConcurrent) {
      const job = this.next();
      if (!job) return;
      const controller = new AbortController();
      const done = Promise.resolve()
        .then(() => this.options.run(job, controller.signal))
        .catch((error) => this.options.onError?.(job, error))
        .finally(() => {
          this.active.delete(job.id);
          if (this.active.size === 0) {
            for (const w of this.idleWaiters.splice(0)) w();
          }
          this.dispatch();
        });
      this.active.set(job.id, { job, controller, done });
    }
  }
}
