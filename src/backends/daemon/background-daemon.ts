import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { execaSync } from 'execa';
import { BoxrunError } from '../../core/errors.js';
import { type ConnectedEngine, connectEngine } from '../docker/engine.js';

/** A line of progress for the person running `boxrun setup`. */
export type ProgressFn = (line: string) => void;

export function commandExists(cmd: string): boolean {
  return execaSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', reject: false }).exitCode === 0;
}

/** `apt-get update` and `apt-get install <pkg>`, their output appended to `log`. */
export function aptInstall(pkg: string, log: string): void {
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', pkg],
  ]) {
    const r = execaSync('apt-get', args, {
      stdin: 'ignore',
      stdout: { file: log, append: true },
      stderr: { file: log, append: true },
      env: { DEBIAN_FRONTEND: 'noninteractive' },
      reject: false,
    });
    if (r.exitCode !== 0) {
      throw new BoxrunError(
        'SETUP_FAILED',
        `apt-get ${args.join(' ')} failed (exit ${r.exitCode}); see ${log}`,
      );
    }
  }
}

/** Connects to `host` (the default engine when undefined), retrying until `timeoutMs` has passed. */
export async function waitForEngine(host: string | undefined, timeoutMs: number): Promise<ConnectedEngine> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connectEngine(host);
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** An engine daemon that setup starts in the background, with its log and pid file in the state dir. */
export interface BackgroundDaemon {
  /** Its name in messages ("dockerd", "podman"). */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  pidFile: string;
  logPath: string;
  /** The endpoint it serves (undefined: the default engine). */
  host: string | undefined;
  timeoutMs: number;
}

/**
 * The engine of a daemon an earlier setup started and that is still coming up, or null when the
 * pid file is missing or stale (or the daemon it names never answered).
 */
export async function waitForStartedDaemon(
  daemon: BackgroundDaemon,
  onWaiting: (pid: number) => void,
): Promise<ConnectedEngine | null> {
  if (!existsSync(daemon.pidFile)) return null;
  const pid = Number(readFileSync(daemon.pidFile, 'utf8'));
  try {
    if (pid > 0) process.kill(pid, 0);
    onWaiting(pid);
    return await waitForEngine(daemon.host, daemon.timeoutMs);
  } catch {
    return null; // stale pid file
  }
}

/**
 * Starts the daemon detached (output appended to its log, pid in its pid file) and waits until its
 * API answers; otherwise the error quotes the last lines of its log.
 */
export async function startDaemon(daemon: BackgroundDaemon): Promise<ConnectedEngine> {
  const out = openSync(daemon.logPath, 'a');
  const child = spawn(daemon.command, daemon.args, {
    detached: true,
    stdio: ['ignore', out, out],
    ...(daemon.env ? { env: daemon.env } : {}),
  });
  child.unref();
  closeSync(out);
  writeFileSync(daemon.pidFile, String(child.pid));
  // How it was started, so that setup can tell this daemon is boxrun's own and restart it alike.
  writeFileSync(`${daemon.pidFile}.json`, JSON.stringify({ ...daemon, env: undefined }));
  try {
    return await waitForEngine(daemon.host, daemon.timeoutMs);
  } catch {
    const log = daemon.logPath;
    const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
    throw new BoxrunError(
      'ENGINE_UNAVAILABLE',
      `${daemon.name} did not answer within ${daemon.timeoutMs / 1000} s; last lines of ${log}:\n${tail}`,
    );
  }
}

/**
 * The daemon `startDaemon(definition)` started, when it is still running: the only kind of engine
 * boxrun may reconfigure and restart. How it was started comes from the record beside its pid file
 * (or, for a daemon started before records were kept, from `definition` when the process is indeed
 * `definition.command`). Null for an engine someone else runs.
 */
export function runningOwnDaemon(definition: BackgroundDaemon): (BackgroundDaemon & { pid: number }) | null {
  const { pidFile } = definition;
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    if (!(pid > 0)) return null;
    process.kill(pid, 0);
    const record = `${pidFile}.json`;
    if (existsSync(record)) return { ...(JSON.parse(readFileSync(record, 'utf8')) as BackgroundDaemon), pid };
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return comm === basename(definition.command) ? { ...definition, pid } : null;
  } catch {
    return null;
  }
}

/** SIGTERM, wait until it has exited (SIGKILL after `killAfterMs`), start it again the same way. */
export async function restartDaemon(
  daemon: BackgroundDaemon & { pid: number },
  killAfterMs: number,
): Promise<ConnectedEngine> {
  const alive = () => {
    try {
      process.kill(daemon.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  process.kill(daemon.pid, 'SIGTERM');
  const killAt = Date.now() + killAfterMs;
  while (alive()) {
    if (Date.now() > killAt) process.kill(daemon.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
  }
  const { pid: _, ...definition } = daemon;
  return startDaemon(definition);
}
