/**
 * Per-caller admission counts (an API key's `maxConcurrent`: queued + running at once). A slot is
 * taken at admission, before the record is written, and given back when the execution ends.
 */
export interface CallerSlots {
  /** Takes `count` slots unless that would exceed `max` (0 = no limit); `held` is the count before the call. */
  take(caller: string, count: number, max: number): { held: number; taken: boolean };
  release(caller: string, count: number): void;
}

/** The counts of one process (embedded mode: every execution of the service passes through it). */
export class InProcessCallerSlots implements CallerSlots {
  private readonly held = new Map<string, number>();

  take(caller: string, count: number, max: number): { held: number; taken: boolean } {
    const held = this.held.get(caller) ?? 0;
    if (max > 0 && held + count > max) return { held, taken: false };
    this.held.set(caller, held + count);
    return { held, taken: true };
  }

  release(caller: string, count: number): void {
    const left = (this.held.get(caller) ?? 0) - count;
    if (left > 0) this.held.set(caller, left);
    else this.held.delete(caller);
  }
}
