import type Docker from 'dockerode';
import type { ResourceLimits } from '../../core/request.js';
import type { JobEnd } from '../supervisor/job-runner.js';
import { LABEL_DEADLINE, LABEL_EXECUTION, LABEL_KIND } from './labels.js';
import { Sandbox } from './sandbox.js';
import type { SandboxSource } from './sandbox-source.js';

/** One kind of warm container: a runtime's run step, or its compile step (other limits). */
export interface WarmPoolTarget {
  /** Shown in stats and `boxrun doctor`, e.g. "python" or "c/compile". */
  name: string;
  image: string;
  /** How many to keep started and idle. */
  size: number;
  /**
   * The container spec of a pool container carrying the given deadline label. It must be the spec a
   * one-shot run of the same request would get (apart from labels): that is how requests find it.
   */
  makeSpec: (deadline: number) => Docker.ContainerCreateOptions;
}

export interface WarmPoolOptions {
  /** Names this pool in stats (and, by the executor, in its containers' execution labels). */
  id?: string;
  targets: WarmPoolTarget[];
  /** Cap on warm + starting containers over all targets. */
  maxTotal: number;
  /** An idle container older than this is replaced, so deadline labels stay short. */
  idleTtlMs: number;
  /** The longest program timeout a pool container may be handed out for. */
  maxRunMs: number;
  /** Setup slack and reaper grace added to a pool container's deadline label. */
  graceMs: number;
  /** How many containers the pool starts at once. */
  replenishConcurrency: number;
  /**
   * Reuse sandboxes whose supervisor proved them clean after a job, within these bounds; absent =
   * single use (every sandbox runs one job and is destroyed).
   */
  recycle?: { maxUses: number; maxAgeMs: number };
  /** How long a peak of concurrent demand keeps a recycling slot at that size. Default 60 s. */
  sizingWindowMs?: number;
  /** Start sandboxes (tests replace it); `Sandbox.start` otherwise. */
  startSandbox?: (docker: Docker, spec: Docker.ContainerCreateOptions) => Promise<Sandbox>;
  now?: () => number;
}

export interface WarmPoolTargetStats {
  name: string;
  image: string;
  size: number;
  warm: number;
  starting: number;
  busy: number;
  hits: number;
  misses: number;
  /** Sandboxes this slot keeps (warm + busy when recycling): its size, or the recent peak demand. */
  target: number;
  lastError: string | null;
}

export interface WarmPoolStats {
  id: string | null;
  warm: number;
  starting: number;
  /** Handed out and not destroyed yet. */
  busy: number;
  hits: number;
  /** Requests that fell back to a one-shot start (no matching key, or the key's pool was empty). */
  misses: number;
  created: number;
  failures: number;
  /** Warm containers thrown away: died while idle, or past the idle TTL. */
  discarded: number;
  /** hits / (hits + misses); null before the first request. */
  hitRatio: number | null;
  /** Recycling: jobs after which the sandbox went back to the pool, proven clean. */
  recycled: number;
  /** Recycling: sandboxes destroyed because their reset failed (something could not be cleaned). */
  resetFailures: number;
  /** Recycling: sandboxes not reused after a job that hit a limit, was canceled or broke off. */
  notReused: number;
  /** Recycling: sandboxes replaced after max uses or max age. */
  retired: number;
  replenishMs: { last: number | null; avg: number | null };
  targets: WarmPoolTargetStats[];
}

interface WarmEntry {
  sandbox: Sandbox;
  createdAt: number;
  /** The deadline label it carries. */
  deadline: number;
  /** Jobs it has run (recycling). */
  uses: number;
}

interface Slot {
  target: WarmPoolTarget;
  key: string;
  /** Recycling: made for a request shape no target configured (size 0: kept while demand lasts). */
  observed: boolean;
  warm: WarmEntry[];
  starting: number;
  busy: number;
  /** Recycling: the sandboxes handed out, which come back after their job. */
  lent: Set<WarmEntry>;
  /** Recycling: one-shot sandboxes running for this slot's requests (demand it did not meet). */
  overflow: number;
  /** Recycling: the highest concurrent demand seen lately, and when. */
  peakDemand: number;
  peakAt: number;
  hits: number;
  misses: number;
  failuresInRow: number;
  retryAt: number;
  lastError: string | null;
}

/** Slack between the program's timeout and the host's backstop kill (see sandbox.ts). */
const BACKSTOP_SLACK_MS = 5000;
const MAX_RETRY_DELAY_MS = 30_000;
/** Recycling: request shapes the pool starts keeping sandboxes for, beyond its configured targets. */
const MAX_OBSERVED_SLOTS = 64;

/**
 * What decides whether a warm container can serve a request: every field of the container spec
 * except its labels (execution id, deadline, kind). Image, limits, runtime, network, seccomp —
 * whatever a one-shot run would have been created with must be identical, so a warm container is
 * never weaker or different from the one-shot container it stands in for.
 */
export function specKey(spec: Docker.ContainerCreateOptions): string {
  const { Labels: _labels, ...rest } = spec;
  return stableJson(rest);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Keeps sandboxes started ahead of time — containers whose supervisor (PID 1) waits on its attached
 * stdin for one job — so an execution skips create+attach+start (~150 ms). Single use: whoever
 * acquires a sandbox runs one job in it and destroys it; the pool starts a replacement in the
 * background. A request whose container spec matches no warm container, or arrives while its
 * pool is empty, gets a one-shot sandbox instead: the pool never makes anyone wait for it.
 *
 * Crash safety is the one-shot path's: pool containers carry the managed/deadline labels (kind
 * `pool`), and a supervisor whose attach connection drops before a job exits by itself, so the
 * Reaper removes what a killed process left.
 */
export class WarmPool implements SandboxSource {
  private readonly slots = new Map<string, Slot>();
  private readonly startQueue: Slot[] = [];
  private inFlight = 0;
  private readonly pending = new Set<Promise<void>>();
  private closed = false;
  private closing: Promise<void> | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly waiters = new Set<() => void>();
  private readonly startSandbox: (docker: Docker, spec: Docker.ContainerCreateOptions) => Promise<Sandbox>;
  private readonly now: () => number;
  private readonly counters = {
    hits: 0,
    misses: 0,
    created: 0,
    failures: 0,
    discarded: 0,
    recycled: 0,
    resetFailures: 0,
    notReused: 0,
    retired: 0,
    busy: 0,
    replenishCount: 0,
    replenishTotalMs: 0,
    replenishLastMs: null as number | null,
  };

  constructor(
    private readonly docker: Docker,
    private readonly options: WarmPoolOptions,
  ) {
    this.startSandbox = options.startSandbox ?? ((d, spec) => Sandbox.start(d, spec));
    this.now = options.now ?? Date.now;
    for (const target of options.targets) {
      if (target.size <= 0) continue;
      const key = specKey(target.makeSpec(0));
      if (this.slots.has(key)) {
        // Two names for one container shape (e.g. two runtimes on one image): one slot, sizes add.
        const slot = this.slots.get(key)!;
        slot.target = { ...slot.target, size: slot.target.size + target.size };
        continue;
      }
      this.slots.set(key, this.newSlot(target, key, false));
    }
  }

  private newSlot(target: WarmPoolTarget, key: string, observed: boolean): Slot {
    return {
      target,
      key,
      observed,
      warm: [],
      starting: 0,
      busy: 0,
      lent: new Set(),
      overflow: 0,
      peakDemand: 0,
      peakAt: 0,
      hits: 0,
      misses: 0,
      failuresInRow: 0,
      retryAt: 0,
      lastError: null,
    };
  }

  /**
   * Recycling: a request of a shape no target covers (other limits, another runtime) gets a slot of
   * size 0 whose pool containers have that request's spec under pool labels. Its size follows the
   * observed demand like any recycling slot's, so repeated requests of that shape are served warm
   * and an idle shape shrinks to nothing after the sizing window (sweep removes the slot).
   */
  private observedSlot(key: string, spec: Docker.ContainerCreateOptions): Slot | undefined {
    if (!this.options.recycle || this.closed) return undefined;
    let observed = 0;
    for (const s of this.slots.values()) if (s.observed) observed++;
    if (observed >= MAX_OBSERVED_SLOTS) return undefined;
    const name = `${spec.Image ?? '?'}~${observed + 1}`;
    const target: WarmPoolTarget = {
      name,
      image: spec.Image ?? '',
      size: 0,
      makeSpec: (deadline) => ({
        ...spec,
        Labels: {
          ...spec.Labels,
          [LABEL_EXECUTION]: `pool:${this.options.id ?? 'pool'}:${name}`,
          [LABEL_DEADLINE]: String(deadline),
          [LABEL_KIND]: 'pool',
        },
      }),
    };
    const slot = this.newSlot(target, key, true);
    this.slots.set(key, slot);
    return slot;
  }

  /** Begin filling every slot and keep it filled; idle containers past their TTL are replaced. */
  start(): void {
    if (this.closed || this.sweepTimer) return;
    const window = this.options.recycle ? (this.options.sizingWindowMs ?? 60_000) / 2 : 5000;
    const interval = Math.max(250, Math.min(5000, window, Math.floor(this.lifetimeMs() / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), interval);
    this.sweepTimer.unref();
    for (const slot of this.slots.values()) this.replenish(slot);
  }

  /** Resolves when every slot is full, or when a slot keeps failing (its error is in `stats()`). */
  async fill(timeoutMs = 120_000): Promise<void> {
    this.start();
    const deadline = this.now() + timeoutMs;
    const settled = () =>
      [...this.slots.values()].every(
        (s) => s.warm.length >= s.target.size || s.failuresInRow > 0 || this.atCapacity(),
      );
    while (!this.closed && !settled() && this.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 200);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
    this.waiters.clear();
  }

  async acquire(
    _image: string,
    limits: ResourceLimits,
    makeSpec: () => Docker.ContainerCreateOptions,
  ): Promise<Sandbox> {
    const spec = makeSpec();
    const key = specKey(spec);
    const slot = this.closed ? undefined : (this.slots.get(key) ?? this.observedSlot(key, spec));
    if (slot) {
      const now = this.now();
      while (slot.warm.length > 0) {
        // Recycling hands out the sandbox that came back last (its memory is warm; the least recently
        // used ones idle out when demand shrinks); single-use, the oldest (nearest its idle TTL) first.
        const entry = this.options.recycle ? slot.warm.pop()! : slot.warm.shift()!;
        // Its deadline label must outlast this run, or our own reaper would remove it mid-run.
        const fits = now + limits.timeoutMs + BACKSTOP_SLACK_MS + this.options.graceMs <= entry.deadline;
        if (!entry.sandbox.alive || !fits) {
          this.discard(entry);
          continue;
        }
        slot.hits++;
        this.counters.hits++;
        slot.busy++;
        this.counters.busy++;
        if (this.options.recycle) {
          this.lend(slot, entry);
          return entry.sandbox;
        }
        entry.sandbox.onDestroy = () => {
          slot.busy--;
          this.counters.busy--;
          // The replacement starts once this run is over, so it does not compete for CPU with the
          // program; an empty slot cannot wait for that.
          this.replenish(slot);
        };
        if (slot.warm.length === 0) this.replenish(slot);
        return entry.sandbox;
      }
      slot.misses++;
      if (this.options.recycle) {
        // Unmet demand grows the slot: the next request at this concurrency finds a sandbox.
        slot.overflow++;
        this.noteDemand(slot);
        this.replenish(slot);
        try {
          const sandbox = await this.startSandbox(this.docker, spec);
          sandbox.onDestroy = () => slot.overflow--;
          this.counters.misses++;
          return sandbox;
        } catch (error) {
          slot.overflow--;
          throw error;
        }
      }
      this.replenish(slot);
    }
    this.counters.misses++;
    return this.startSandbox(this.docker, spec);
  }

  /** Recycling: the sandbox runs one job and comes back through Sandbox.finish. */
  private lend(slot: Slot, entry: WarmEntry): void {
    slot.lent.add(entry);
    this.noteDemand(slot);
    let returned = false;
    const settle = () => {
      if (returned) return false;
      returned = true;
      slot.lent.delete(entry);
      slot.busy--;
      this.counters.busy--;
      return true;
    };
    entry.sandbox.onDestroy = () => {
      if (settle()) this.replenish(slot);
    };
    entry.sandbox.recycler = async (end: JobEnd) => {
      if (!settle()) return;
      entry.uses++;
      entry.sandbox.onDestroy = null;
      if (end === 'clean') this.counters.recycled++;
      else if (end === 'reset_failed') this.counters.resetFailures++;
      else this.counters.notReused++;
      const now = this.now();
      const worn = this.worn(entry, now);
      if (
        end !== 'clean' ||
        this.closed ||
        worn ||
        !entry.sandbox.alive ||
        this.holds(slot) > this.target(slot)
      ) {
        if (end === 'clean' && worn) this.counters.retired++;
        const destroyed = entry.sandbox.destroy();
        this.track(destroyed);
        this.replenish(slot);
        return destroyed;
      }
      slot.warm.push(entry);
      for (const wake of this.waiters) wake();
    };
    // A replacement for a sandbox near the end of its uses or age starts now, in the background,
    // so that it is warm when this one retires.
    this.replenish(slot);
  }

  /** Past its max uses or age: not handed out again. */
  private worn(entry: WarmEntry, now: number): boolean {
    const recycle = this.options.recycle;
    return (
      recycle !== undefined && (entry.uses >= recycle.maxUses || now - entry.createdAt >= recycle.maxAgeMs)
    );
  }

  /** Close to its max uses or age: it counts no more toward the slot's size, so a successor starts. */
  private retiring(entry: WarmEntry, now: number): boolean {
    const recycle = this.options.recycle;
    if (!recycle) return false;
    const usesLeft = recycle.maxUses - entry.uses;
    const ageLeft = recycle.maxAgeMs - (now - entry.createdAt);
    return (
      usesLeft <= Math.max(1, Math.ceil(recycle.maxUses / 10)) ||
      ageLeft <= Math.min(30_000, recycle.maxAgeMs / 10)
    );
  }

  /** How many sandboxes a slot keeps: its size, or when recycling, the peak demand seen lately. */
  private target(slot: Slot): number {
    if (!this.options.recycle) return slot.target.size;
    return Math.min(this.options.maxTotal, Math.max(slot.target.size, slot.peakDemand));
  }

  /** Sandboxes a slot holds now (warm, starting, and when recycling, lent out). */
  private holds(slot: Slot): number {
    return slot.warm.length + slot.starting + (this.options.recycle ? slot.lent.size : 0);
  }

  private noteDemand(slot: Slot): void {
    const demand = slot.lent.size + slot.overflow;
    if (demand >= slot.peakDemand) {
      slot.peakDemand = demand;
      slot.peakAt = this.now();
    }
  }

  /** True when a container of this image is warm right now (so the image is on the engine). */
  hasImage(image: string): boolean {
    for (const slot of this.slots.values()) {
      if (slot.target.image === image && slot.warm.length > 0) return true;
    }
    return false;
  }

  stats(): WarmPoolStats {
    const targets = [...this.slots.values()].map((s) => ({
      name: s.target.name,
      image: s.target.image,
      size: s.target.size,
      warm: s.warm.length,
      starting: s.starting,
      busy: s.busy,
      hits: s.hits,
      misses: s.misses,
      target: this.target(s),
      lastError: s.lastError,
    }));
    const c = this.counters;
    return {
      id: this.options.id ?? null,
      warm: targets.reduce((n, t) => n + t.warm, 0),
      starting: targets.reduce((n, t) => n + t.starting, 0),
      busy: c.busy,
      hits: c.hits,
      misses: c.misses,
      created: c.created,
      failures: c.failures,
      discarded: c.discarded,
      hitRatio: c.hits + c.misses === 0 ? null : Math.round((c.hits / (c.hits + c.misses)) * 10_000) / 10_000,
      recycled: c.recycled,
      resetFailures: c.resetFailures,
      notReused: c.notReused,
      retired: c.retired,
      replenishMs: {
        last: c.replenishLastMs === null ? null : Math.round(c.replenishLastMs * 10) / 10,
        avg: c.replenishCount === 0 ? null : Math.round((c.replenishTotalMs / c.replenishCount) * 10) / 10,
      },
      targets,
    };
  }

  /** Idempotent: stops replenishing and removes every warm container, including ones still starting. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.sweepTimer = null;
    this.retryTimer = null;
    this.startQueue.length = 0;
    for (const slot of this.slots.values()) {
      for (const entry of slot.warm.splice(0)) this.track(entry.sandbox.destroy());
    }
    for (const wake of this.waiters) wake();
    // Starts in flight destroy their sandbox themselves once they see `closed`.
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private get total(): number {
    let n = 0;
    for (const s of this.slots.values()) n += this.holds(s);
    return n;
  }

  private atCapacity(): boolean {
    return this.total >= this.options.maxTotal;
  }

  /**
   * Queue starts until the slot has its target (counting those already starting and, when
   * recycling, those lent out that will come back: only sandboxes near retirement do not count).
   */
  private replenish(slot: Slot): void {
    if (this.closed) return;
    const queued = this.startQueue.filter((s) => s === slot).length;
    let missing = this.target(slot) - this.lasting(slot) - slot.starting - queued;
    while (missing-- > 0) this.startQueue.push(slot);
    this.pump();
  }

  /** Warm (and when recycling, lent) sandboxes of a slot that are not about to retire. */
  private lasting(slot: Slot): number {
    const now = this.now();
    let n = 0;
    for (const entry of slot.warm) if (!this.retiring(entry, now)) n++;
    for (const entry of slot.lent) if (!this.retiring(entry, now)) n++;
    return n;
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.options.replenishConcurrency && this.startQueue.length > 0) {
      const now = this.now();
      const index = this.startQueue.findIndex((s) => s.retryAt <= now);
      if (index < 0) {
        // Every queued slot is backing off after failures: look again when the first may retry.
        if (this.retryTimer) return;
        const next = Math.min(...this.startQueue.map((s) => s.retryAt));
        this.retryTimer = setTimeout(
          () => {
            this.retryTimer = null;
            this.pump();
          },
          Math.max(10, next - now),
        );
        this.retryTimer.unref();
        return;
      }
      const slot = this.startQueue.splice(index, 1)[0]!;
      if (this.lasting(slot) + slot.starting >= this.target(slot) || this.atCapacity()) continue;
      this.startOne(slot);
    }
  }

  private startOne(slot: Slot): void {
    this.inFlight++;
    slot.starting++;
    const began = performance.now();
    const createdAt = this.now();
    const deadline = createdAt + this.lifetimeMs() + this.options.maxRunMs + this.options.graceMs;
    const work = (async () => {
      try {
        const sandbox = await this.startSandbox(this.docker, slot.target.makeSpec(deadline));
        const ms = performance.now() - began;
        this.counters.created++;
        this.counters.replenishCount++;
        this.counters.replenishTotalMs += ms;
        this.counters.replenishLastMs = ms;
        slot.failuresInRow = 0;
        slot.lastError = null;
        if (this.closed) await sandbox.destroy();
        else {
          const entry = { sandbox, createdAt, deadline, uses: 0 };
          slot.warm.push(entry);
          // A container that dies while idle leaves at once (this also handles its stream errors).
          sandbox.onDisconnect(() => this.drop(slot, entry));
        }
      } catch (error) {
        this.counters.failures++;
        slot.failuresInRow++;
        slot.lastError = (error as Error).message;
        // Engine down or image missing: back off instead of spinning; acquire falls back meanwhile.
        const delay = Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** Math.min(slot.failuresInRow - 1, 7));
        slot.retryAt = this.now() + delay;
      } finally {
        slot.starting--;
        this.inFlight--;
      }
      for (const wake of this.waiters) wake();
      this.replenish(slot);
    })();
    this.track(work);
  }

  /** How long a pool container may live: its max age when recycled, its idle TTL otherwise. */
  private lifetimeMs(): number {
    return this.options.recycle?.maxAgeMs ?? this.options.idleTtlMs;
  }

  /**
   * Replace idle containers past their lifetime and drop dead ones before anyone is handed them;
   * when recycling, let a slot shrink back once its peak demand is older than the sizing window.
   */
  private sweep(): void {
    const now = this.now();
    for (const slot of this.slots.values()) {
      if (this.options.recycle && now - slot.peakAt > (this.options.sizingWindowMs ?? 60_000)) {
        slot.peakDemand = slot.lent.size + slot.overflow;
        slot.peakAt = now;
      }
      const keep: WarmEntry[] = [];
      for (const entry of slot.warm) {
        if (!entry.sandbox.alive || now - entry.createdAt >= this.lifetimeMs()) this.discard(entry);
        else keep.push(entry);
      }
      // Beyond the target: the oldest idle ones go first.
      while (
        keep.length > 0 &&
        keep.length + slot.starting + (this.options.recycle ? slot.lent.size : 0) > this.target(slot)
      ) {
        this.discard(keep.shift()!);
      }
      slot.warm = keep;
      if (slot.observed && this.holds(slot) + slot.overflow === 0 && slot.peakDemand === 0) {
        this.slots.delete(slot.key);
        continue;
      }
      this.replenish(slot);
    }
  }

  private drop(slot: Slot, entry: WarmEntry): void {
    const index = slot.warm.indexOf(entry);
    if (index < 0) return; // handed out already: its run reports what happened
    slot.warm.splice(index, 1);
    this.discard(entry);
    this.replenish(slot);
  }

  private discard(entry: WarmEntry): void {
    this.counters.discarded++;
    this.track(entry.sandbox.destroy());
  }

  private track(work: Promise<void>): void {
    const p = work.catch(() => {}).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }
}
