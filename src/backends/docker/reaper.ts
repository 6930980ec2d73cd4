import type Docker from 'dockerode';
import { LABEL_DEADLINE, LABEL_MANAGED, LABEL_OWNER, ownerAlive } from './labels.js';
import { reapNetworks } from './network-policy.js';

/**
 * Removes boxrun containers a crashed process left behind: those past their deadline label (plus
 * grace), and exited ones (a sandbox's supervisor exits when its owner's connection drops) or never
 * started ones older than the grace whose owner (LABEL_OWNER) is not a live process of this host.
 */
export class Reaper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly docker: Docker,
    private readonly graceMs: number,
  ) {}

  start(intervalMs: number): void {
    if (this.timer) return;
    void this.reapOnce();
    this.timer = setInterval(() => void this.reapOnce(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Returns how many containers were removed. Never throws: the next round tries again. */
  reapOnce(now = Date.now()): Promise<number> {
    this.running ??= this.sweep(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweep(now: number): Promise<number> {
    let removed = 0;
    try {
      const list = await this.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_MANAGED}=true`] },
      });
      for (const c of list) {
        const deadline = Number(c.Labels[LABEL_DEADLINE] ?? 0);
        const overdue = deadline > 0 && now > deadline + this.graceMs;
        // 'created': its owner died between create and start (every owner starts at once), so
        // it would otherwise wait for its deadline, which counts the run's whole time limit.
        const abandoned = c.State === 'exited' || c.State === 'created';
        const exitedLongAgo =
          abandoned && now - c.Created * 1000 > this.graceMs && !ownerAlive(c.Labels[LABEL_OWNER]);
        if (!overdue && !exitedLongAgo) continue;
        try {
          await this.docker.getContainer(c.Id).remove({ force: true, v: true });
          removed++;
        } catch {
          // gone already or being removed by its owner
        }
      }
    } catch {
      // engine unreachable: nothing to do until it is back
    }
    // Allowlist networks (network-policy.ts) go once their containers are gone.
    removed += await reapNetworks(this.docker, now, this.graceMs);
    return removed;
  }
}
