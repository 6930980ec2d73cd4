import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { createDockerClient } from '../../src/backends/docker/engine.js';

/** A private dockerd needs root, dockerd and ip (for its own bridge) on Linux. */
export const canStartPrivateEngine =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  existsSync('/usr/sbin/dockerd') &&
  existsSync('/usr/sbin/ip');

export interface PrivateEngineOptions {
  /** Prefix of its temporary state directory. */
  prefix: string;
  /** Its own bridge, made here (a name no other test uses). */
  bridge: string;
  /** The bridge's address, e.g. 172.31.250.1/24. */
  bridgeAddress: string;
  /** More endpoints besides its unix socket (e.g. tcp://127.0.0.1:23750). */
  hosts?: string[];
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/**
 * A second dockerd beside the main engine, with its own state, exec root, socket and bridge
 * (ENGINE-NOTES.md, "Several engines on one machine"). It can be stopped and started again;
 * destroy() removes everything it made.
 */
export class PrivateEngine {
  readonly dir: string;
  /** Its unix socket endpoint. */
  readonly socket: string;
  private daemon: ChildProcess | null = null;
  private bridgeCreated = false;

  constructor(private readonly options: PrivateEngineOptions) {
    this.dir = mkdtempSync(join(tmpdir(), options.prefix));
    this.socket = `unix://${join(this.dir, 'docker.sock')}`;
  }

  /** Makes its bridge, starts it and waits until `client` (its socket by default) answers. */
  async create(client: Docker = createDockerClient(this.socket), timeoutMs = 60_000): Promise<void> {
    const { bridge } = this.options;
    try {
      ip('link', 'del', bridge); // a leftover from a run killed before its cleanup
    } catch {}
    ip('link', 'add', bridge, 'type', 'bridge');
    this.bridgeCreated = true;
    ip('addr', 'add', this.options.bridgeAddress, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    this.start();
    await this.waitForPing(client, timeoutMs);
  }

  start(): void {
    const log = openSync(join(this.dir, 'dockerd.log'), 'a');
    const hosts = [this.socket, ...(this.options.hosts ?? [])].flatMap((h) => ['-H', h]);
    // Never --bridge none: it deletes the main engine's docker0 (ENGINE-NOTES.md). Without
    // --containerd, dockerd runs a containerd of its own under --exec-root.
    this.daemon = spawn(
      '/usr/sbin/dockerd',
      [
        '--data-root',
        join(this.dir, 'data'),
        '--exec-root',
        join(this.dir, 'exec'),
        '--pidfile',
        join(this.dir, 'docker.pid'),
        ...hosts,
        '--bridge',
        this.options.bridge,
        '--iptables=false',
      ],
      { stdio: ['ignore', log, log] },
    );
  }

  /** Until `client` answers a ping; fails early when the daemon exits, quoting its log. */
  async waitForPing(client: Docker, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < end) {
      if (this.daemon?.exitCode !== null && this.daemon?.exitCode !== undefined) break;
      try {
        await client.ping();
        return;
      } catch (error) {
        last = error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const logPath = join(this.dir, 'dockerd.log');
    const log = existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-2000) : '';
    throw new Error(`private dockerd did not answer: ${String(last)}\n${log}`);
  }

  /** SIGTERM, then SIGKILL after `killAfterMs`; resolves when it has exited. */
  async stop(killAfterMs: number): Promise<void> {
    const d = this.daemon;
    if (!d || d.exitCode !== null || d.signalCode !== null) return;
    const exited = new Promise((resolve) => d.once('exit', resolve));
    d.kill('SIGTERM');
    const timer = setTimeout(() => d.kill('SIGKILL'), killAfterMs);
    await exited;
    clearTimeout(timer);
  }

  /** Stops it and removes its bridge, mounts and state. */
  async destroy(killAfterMs: number): Promise<void> {
    await this.stop(killAfterMs);
    if (this.bridgeCreated) {
      try {
        ip('link', 'set', this.options.bridge, 'down');
        ip('link', 'del', this.options.bridge);
      } catch {}
    }
    // dockerd can leave mounts (overlay, shm, netns) under its roots; unmount before removing.
    try {
      execFileSync(
        'sh',
        ['-c', `grep -o " ${this.dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`],
        {
          stdio: 'pipe',
        },
      );
    } catch {}
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** GET /images/{name}/get on one engine piped into POST /images/load on the other. */
export async function copyImage(from: Docker, to: Docker, name: string): Promise<void> {
  const tar = (await from.getImage(name).get()) as unknown as Readable;
  const response = (await to.loadImage(tar)) as unknown as Readable;
  await new Promise<void>((resolve, reject) => {
    response.on('data', () => {});
    response.on('end', resolve);
    response.on('error', reject);
  });
}
