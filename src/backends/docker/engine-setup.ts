import { mkdirSync } from 'node:fs';
import { BoxrunError } from '../../core/errors.js';
import {
  aptInstall,
  type BackgroundDaemon,
  commandExists,
  type ProgressFn,
  startDaemon,
  waitForStartedDaemon,
} from '../daemon/background-daemon.js';
import { type ConnectedEngine, connectEngine } from './engine.js';

/** dockerd reads this file when started without --config-file. */
export const DOCKERD_DEFAULT_CONFIG = '/etc/docker/daemon.json';

/** The dockerd that setup starts when no engine answers: log, pid file and record in the state dir. */
export function ownDockerd(stateDir: string, daemonConfig: string | undefined): BackgroundDaemon {
  const dir = `${stateDir}/dockerd`;
  return {
    name: 'dockerd',
    command: 'dockerd',
    args: [
      '--pidfile',
      `${dir}/docker.pid`,
      ...(daemonConfig && daemonConfig !== DOCKERD_DEFAULT_CONFIG ? ['--config-file', daemonConfig] : []),
    ],
    pidFile: `${dir}/dockerd.pid`,
    logPath: `${dir}/dockerd.log`,
    host: undefined,
    timeoutMs: 60_000,
  };
}

/**
 * Finds a running engine, or — as root with apt — installs Debian's docker.io and starts dockerd in
 * the background (log and pid file in the state dir). Otherwise says exactly what to do.
 */
export async function ensureEngine(options: {
  host?: string;
  stateDir: string;
  progress: ProgressFn;
  /** The daemon.json the started dockerd reads (dockerd's own default when absent). */
  daemonConfig?: string;
}): Promise<ConnectedEngine> {
  const { progress, stateDir } = options;
  try {
    const engine = await connectEngine(options.host);
    progress(`engine: ${engine.endpoint.url} answers`);
    return engine;
  } catch (error) {
    if (options.host) throw error; // an explicitly chosen remote engine is not ours to start
    progress('engine: none answers; trying to start one');
  }
  const isRoot = process.getuid?.() === 0;
  const dir = `${stateDir}/dockerd`;
  if (!commandExists('dockerd')) {
    if (!isRoot || !commandExists('apt-get')) {
      throw new BoxrunError(
        'ENGINE_UNAVAILABLE',
        'no Docker engine is running and none can be installed from here. Install Docker (Debian/Ubuntu: sudo apt-get install -y docker.io; or Docker Engine / Podman from your distribution), start it, or set DOCKER_HOST to a running engine, then run boxrun setup again.',
      );
    }
    mkdirSync(dir, { recursive: true });
    progress('engine: installing Debian package docker.io (about a minute)');
    aptInstall('docker.io', `${dir}/apt.log`);
  }
  if (!isRoot) {
    throw new BoxrunError(
      'ENGINE_UNAVAILABLE',
      'dockerd is installed but not running, and starting it needs root: run `sudo systemctl start docker` (or `sudo dockerd &`), or use rootless Docker / Podman and set DOCKER_HOST.',
    );
  }
  mkdirSync(dir, { recursive: true });
  const daemon = ownDockerd(stateDir, options.daemonConfig);
  const starting = await waitForStartedDaemon(daemon, (pid) =>
    progress(`engine: dockerd (pid ${pid}) is starting; waiting`),
  );
  if (starting) return starting;
  progress(`engine: starting dockerd in the background (log: ${daemon.logPath})`);
  const engine = await startDaemon(daemon);
  progress(`engine: dockerd answers at ${engine.endpoint.url}`);
  return engine;
}
