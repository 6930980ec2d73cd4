/** Lets callers wait until a set of running things is empty (the queues' `idle(timeoutMs)`). */
export class IdleSignal {
  private waiters: (() => void)[] = [];

  /** Resolves true when `notify()` is called while idle, false after `timeoutMs`; true at once if idle now. */
  wait(isIdle: boolean, timeoutMs: number): Promise<boolean> {
    if (isIdle) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(waiter);
    });
  }

  /** Called when the set became empty: wakes every waiter. */
  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
