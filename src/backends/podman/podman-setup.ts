import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { BoxrunError } from '../../core/errors.js';
import {
  aptInstall,
  type BackgroundDaemon,
  commandExists,
  type ProgressFn,
  startDaemon,
  waitForStartedDaemon,
} from '../daemon/background-daemon.js';
import { type ConnectedEngine, connectEngine, isNotFound, translateEngineError } from '../docker/engine.js';
import { LABEL_IMAGE_HASH } from '../docker/labels.js';

/** This process's hard limit (from /proc/self/limits), or null when unlimited or unknown. */
function hardLimit(name: 'Max open files' | 'Max processes'): string | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(name));
    const hard = line?.slice(name.length).trim().split(/\s+/)[1];
    return hard && /^\d+$/.test(hard) ? hard : null;
  } catch {
    return null;
  }
}

/** Podman lowers its own RLIMIT_NPROC to kernel.pid_max at start; a container may not ask for more. */
function nprocLimit(): string | null {
  const hard = hardLimit('Max processes');
  let pidMax: string | null = null;
  try {
    pidMax = readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim();
  } catch {
    // not Linux
  }
  if (hard && pidMax && /^\d+$/.test(pidMax)) return String(Math.min(Number(hard), Number(pidMax)));
  return hard ?? pidMax;
}

/**
 * Finds Podman's API socket answering, or — as root with apt — installs Debian's `podman` and
 * starts `podman system service --time=0 unix://…` in the background (log, pid and a containers.conf
 * in <stateDir>/podman). The containers.conf pins Podman's default container ulimits to this
 * process's own hard limits (nproc also to kernel.pid_max, to which Podman lowers its own): rootful
 * Podman otherwise asks runc for nofile/nproc of 1048576, which fails ("error setting rlimit …
 * operation not permitted") where root lacks CAP_SYS_RESOURCE.
 */
export async function ensurePodman(options: {
  host: string;
  stateDir: string;
  progress: ProgressFn;
}): Promise<ConnectedEngine> {
  const { host, progress } = options;
  try {
    const engine = await connectEngine(host);
    progress(`podman: ${host} answers`);
    return engine;
  } catch {
    progress(`podman: ${host} does not answer; trying to start the service`);
  }
  if (!host.startsWith('unix://')) {
    throw new BoxrunError(
      'ENGINE_UNAVAILABLE',
      `podman at ${host} does not answer, and only a local socket can be started here`,
    );
  }
  const dir = `${options.stateDir}/podman`;
  mkdirSync(dir, { recursive: true });
  const isRoot = process.getuid?.() === 0;
  if (!commandExists('podman')) {
    if (!isRoot || !commandExists('apt-get')) {
      throw new BoxrunError(
        'ENGINE_UNAVAILABLE',
        'podman is not installed and cannot be installed from here: install it (Debian/Ubuntu: sudo apt-get install -y podman), then run boxrun setup --engine podman again.',
      );
    }
    progress('podman: installing Debian package podman (about a minute)');
    aptInstall('podman', `${dir}/apt.log`);
  }
  const socketPath = host.slice('unix://'.length);
  mkdirSync(socketPath.slice(0, socketPath.lastIndexOf('/')), { recursive: true });
  const conf = `${dir}/containers.conf`;
  const ulimits = [
    ['nofile', hardLimit('Max open files')],
    ['nproc', nprocLimit()],
  ].flatMap(([name, value]) => (value ? [`  "${name}=${value}:${value}",`] : []));
  writeFileSync(
    conf,
    `# Written by boxrun setup --engine podman.\n[containers]\ndefault_ulimits = [\n${ulimits.join('\n')}\n]\n`,
  );
  const daemon: BackgroundDaemon = {
    name: 'podman',
    command: 'podman',
    args: ['system', 'service', '--time=0', host],
    env: { ...process.env, CONTAINERS_CONF: conf },
    pidFile: `${dir}/service.pid`,
    logPath: `${dir}/service.log`,
    host,
    timeoutMs: 30_000,
  };
  const starting = await waitForStartedDaemon(daemon, (pid) =>
    progress(`podman: service (pid ${pid}) is starting; waiting`),
  );
  if (starting) return starting;
  progress(`podman: starting 'podman system service --time=0 ${host}' (log: ${daemon.logPath})`);
  const engine = await startDaemon(daemon);
  progress(`podman: service answers at ${host}`);
  return engine;
}

async function hashOf(docker: Docker, image: string): Promise<string | null | undefined> {
  try {
    const info = await docker.getImage(image).inspect();
    return info.Config?.Labels?.[LABEL_IMAGE_HASH] ?? null;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw translateEngineError(error, `inspecting ${image}`);
  }
}

/**
 * Copies images from one engine to another over their APIs (Docker's GET /images/get → Podman's
 * POST /images/load, i.e. `docker save | podman load`), in one archive so shared layers travel once.
 * Only images missing on the target or with another boxrun.hash label are copied. Returns them.
 */
export async function transferImages(
  from: Docker,
  to: Docker,
  images: string[],
  progress: ProgressFn,
): Promise<string[]> {
  const wanted: string[] = [];
  for (const image of images) {
    const source = await hashOf(from, image);
    if (source === undefined) {
      throw new BoxrunError(
        'IMAGE_NOT_FOUND',
        `image ${image} is not on the source engine: run 'boxrun setup' first`,
      );
    }
    const target = await hashOf(to, image);
    if (target !== undefined && target === source) continue;
    wanted.push(image);
  }
  if (wanted.length === 0) {
    progress('podman: images are current');
    return [];
  }
  const started = Date.now();
  progress(`podman: copying ${wanted.length} image(s) from Docker: ${wanted.join(', ')}`);
  try {
    const archive = await new Promise<Readable>((resolve, reject) =>
      from.modem.dial(
        {
          path: '/images/get?',
          method: 'GET',
          options: { names: wanted },
          isStream: true,
          statusCodes: { 200: true, 404: 'no such image', 500: 'server error' },
        },
        (err: unknown, stream: unknown) => (err ? reject(err) : resolve(stream as Readable)),
      ),
    );
    const response = (await to.loadImage(archive as unknown as NodeJS.ReadableStream)) as unknown as Readable;
    let text = '';
    for await (const chunk of response) text += chunk.toString();
    const failed = /"error":"([^"]*)"/.exec(text);
    if (failed) throw new BoxrunError('SETUP_FAILED', `podman could not load the images: ${failed[1]}`);
  } catch (error) {
    throw translateEngineError(error, 'copying images to podman');
  }
  progress(`podman: copied in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return wanted;
}
