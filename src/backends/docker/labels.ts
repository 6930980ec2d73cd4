import { hostname } from 'node:os';

export const LABEL_MANAGED = 'boxrun.managed';
export const LABEL_EXECUTION = 'boxrun.execution';
export const LABEL_DEADLINE = 'boxrun.deadline';
export const LABEL_KIND = 'boxrun.kind';
/**
 * The process that created a sandbox, `hostname:pid`: the reaper leaves a never-started or exited
 * sandbox alone while that process lives (it starts and removes its own), so a slow create → start
 * under load is never mistaken for an owner that died in between.
 */
export const LABEL_OWNER = 'boxrun.owner';
export const LABEL_IMAGE_HASH = 'boxrun.hash';

/** This process, as LABEL_OWNER names it. */
export const PROCESS_OWNER = `${hostname()}:${process.pid}`;

/** Whether `hostname:pid` is a process that still runs on this host (unknown hosts: false). */
export function ownerAlive(owner: string | undefined): boolean {
  if (!owner) return false;
  const colon = owner.lastIndexOf(':');
  const pid = Number(owner.slice(colon + 1));
  if (owner.slice(0, colon) !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
