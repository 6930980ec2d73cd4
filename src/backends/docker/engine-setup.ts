import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { BoxrunError } from '../../core/errors.js';
import { type ConnectedEngine, connectEngine } from './engine.js';

export type ProgressFn = (line: string) => void;

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function runVisible(cmd: string, args: string[], log: string): void {
  const fd = openSync(log, 'a');
  try {
    const r = spawnSync(cmd, args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0) {
      throw new BoxrunError('SETUP_FAILED', `${cmd} ${args.join(' ')} failed (exit ${r.status}); see ${log}`);
    }
  } finally {
    closeSync(fd);
  }
}

async function waitForEngine(host: string | undefined, timeoutMs: number): Promise<ConnectedEngine> {
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

/**
 * Finds a running engine, or — as root with apt — installs Debian's docker.io and starts dockerd in
 * the background (log and pid file in the state dir). Otherwise says exactly what to do.
 */
export async function ensureEngine(options: {
  host?: string;
  stateDir: string;
  progress: ProgressFn;
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
    runVisible('apt-get', ['update', '-q'], `${dir}/apt.log`);
    runVisible('apt-get', ['install', '-y', '-q', 'docker.io'], `${dir}/apt.log`);
  }
  if (!isRoot) {
    throw new BoxrunError(
      'ENGINE_UNAVAILABLE',
      'dockerd is installed but not running, and starting it needs root: run `sudo systemctl start docker` (or `sudo dockerd &`), or use rootless Docker / Podman and set DOCKER_HOST.',
    );
  }
  mkdirSync(dir, { recursive: true });
  const pidFile = `${dir}/dockerd.pid`;
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      if (pid > 0) process.kill(pid, 0);
      progress(`engine: dockerd (pid ${pid}) is starting; waiting`);
      return await waitForEngine(undefined, 60_000);
    } catch {
      // stale pid file
    }
  }
  const log = `${dir}/dockerd.log`;
  progress(`engine: starting dockerd in the background (log: ${log})`);
  const out = openSync(log, 'a');
  const child = spawn('dockerd', ['--pidfile', `${dir}/docker.pid`], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  closeSync(out);
  writeFileSync(pidFile, String(child.pid));
  try {
    const engine = await waitForEngine(undefined, 60_000);
    progress(`engine: dockerd answers at ${engine.endpoint.url}`);
    return engine;
  } catch {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
    throw new BoxrunError(
      'ENGINE_UNAVAILABLE',
      `dockerd did not answer within 60 s; last lines of ${log}:\n${tail}`,
    );
  }
}
