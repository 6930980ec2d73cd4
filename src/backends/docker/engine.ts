import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { BoxrunError } from '../../core/errors.js';

export interface EngineEndpoint {
  /** unix:///path or tcp://host:port */
  url: string;
  source: string;
}

/**
 * Candidate endpoints in the order testcontainers tries them: DOCKER_HOST, the default socket,
 * rootless Docker, then Podman's Docker-compatible sockets.
 */
export function candidateEndpoints(
  configuredHost: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): EngineEndpoint[] {
  const list: EngineEndpoint[] = [];
  if (configuredHost) list.push({ url: configuredHost, source: 'DOCKER_HOST / config' });
  const uid = process.getuid?.() ?? 0;
  const runtimeDir = env.XDG_RUNTIME_DIR ?? `/run/user/${uid}`;
  const sockets: [string, string][] = [
    ['/var/run/docker.sock', 'default socket'],
    [join(runtimeDir, 'docker.sock'), 'rootless Docker'],
    [join(homedir(), '.docker', 'run', 'docker.sock'), 'Docker Desktop'],
    [join(runtimeDir, 'podman', 'podman.sock'), 'rootless Podman'],
    ['/run/podman/podman.sock', 'Podman'],
  ];
  for (const [path, source] of sockets) {
    if (!list.some((e) => e.url === `unix://${path}`)) list.push({ url: `unix://${path}`, source });
  }
  return list;
}

export function createDockerClient(url: string, env: NodeJS.ProcessEnv = process.env): Docker {
  if (url.startsWith('unix://')) return new Docker({ socketPath: url.slice('unix://'.length) });
  if (url.startsWith('/')) return new Docker({ socketPath: url });
  const parsed = new URL(url.replace(/^tcp:/, 'http:'));
  const certPath = env.DOCKER_CERT_PATH;
  const tls =
    env.DOCKER_TLS_VERIFY === '1' || parsed.protocol === 'https:' || (parsed.port === '2376' && !!certPath);
  if (tls && certPath) {
    return new Docker({
      protocol: 'https',
      host: parsed.hostname,
      port: Number(parsed.port || 2376),
      ca: readFileSync(join(certPath, 'ca.pem')),
      cert: readFileSync(join(certPath, 'cert.pem')),
      key: readFileSync(join(certPath, 'key.pem')),
    });
  }
  return new Docker({ protocol: 'http', host: parsed.hostname, port: Number(parsed.port || 2375) });
}

async function pingWithin(docker: Docker, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ConnectedEngine {
  docker: Docker;
  endpoint: EngineEndpoint;
}

/** The first endpoint that answers a ping; ENGINE_UNAVAILABLE listing what was tried otherwise. */
export async function connectEngine(
  configuredHost: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ConnectedEngine> {
  const tried: string[] = [];
  for (const endpoint of candidateEndpoints(configuredHost, env)) {
    const isSocket = endpoint.url.startsWith('unix://');
    if (isSocket && !existsSync(endpoint.url.slice(7)) && endpoint.source !== 'DOCKER_HOST / config')
      continue;
    try {
      const docker = createDockerClient(endpoint.url, env);
      await pingWithin(docker, 3000);
      return { docker, endpoint };
    } catch (error) {
      tried.push(`${endpoint.url} (${endpoint.source}): ${(error as Error).message}`);
      if (endpoint.source === 'DOCKER_HOST / config') break; // an explicit choice is not second-guessed
    }
  }
  throw new BoxrunError(
    'ENGINE_UNAVAILABLE',
    tried.length > 0
      ? `no container engine answered. Tried: ${tried.join('; ')}. Run 'boxrun setup' to install and start one.`
      : "no container engine found (no DOCKER_HOST, no /var/run/docker.sock, no rootless or Podman socket). Run 'boxrun setup' to install and start one.",
  );
}

/** The HTTP status the engine answered a call with (dockerode puts it on its errors). */
function engineStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The container, image, volume or network does not exist (404). */
export function isNotFound(error: unknown): boolean {
  return engineStatus(error) === 404;
}

/** The object's state forbids the call (409): in use, or already being removed. */
export function isConflict(error: unknown): boolean {
  return engineStatus(error) === 409;
}

/** For a removal: nothing left to do, the object is gone or already on its way out (404, 409). */
export function isGone(error: unknown): boolean {
  return isNotFound(error) || isConflict(error);
}

/** Docker's own errors become ours here, and only here. */
export function translateEngineError(error: unknown, what: string): BoxrunError {
  if (error instanceof BoxrunError) return error;
  const e = error as { statusCode?: number; code?: string; message?: string; json?: { message?: string } };
  const detail = e.json?.message ?? e.message ?? String(error);
  if (
    e.code === 'ECONNREFUSED' ||
    e.code === 'ENOENT' ||
    e.code === 'EPIPE' ||
    e.code === 'ECONNRESET' ||
    e.code === 'EHOSTUNREACH' ||
    e.code === 'ETIMEDOUT'
  ) {
    return new BoxrunError('ENGINE_UNAVAILABLE', `container engine unavailable while ${what}: ${detail}`, {
      cause: error,
    });
  }
  if (e.statusCode === 404 && /image/i.test(detail)) {
    return new BoxrunError('IMAGE_NOT_FOUND', `${detail} (while ${what})`, { cause: error });
  }
  return new BoxrunError('SANDBOX_FAILED', `engine error while ${what}: ${detail}`, { cause: error });
}
