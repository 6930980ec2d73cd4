import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from './apt.js';
import { freePort } from './postgres.js';

const SERVER = '/usr/bin/redis-server';

/** redis-server, installing Debian's `redis-server` package when it is missing and we may. */
export function redisBinary(): { bin: string } | { missing: string } {
  if (!existsSync(SERVER)) {
    const installed = aptInstall(['redis-server']);
    if (installed !== true) return { missing: `Redis is not installed and ${installed}` };
  }
  return existsSync(SERVER)
    ? { bin: SERVER }
    : { missing: 'apt installed redis-server but it is not at /usr/bin' };
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
  });
}

/**
 * A throwaway Redis on loopback: its own temp dir and free port, AOF on (as the docs advise for
 * BullMQ), no persistence outside the dir. restart() keeps the data (the queue must survive it).
 */
export class ThrowawayRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'boxrun-redis-'));
  private child: ChildProcess | null = null;

  private constructor(
    private readonly bin: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  static async create(bin: string): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(bin, await freePort());
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    // BullMQ requires noeviction: an evicted job key would be a lost execution.
    this.child = spawn(
      this.bin,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (await answersPing(this.port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis-server did not answer on port ${this.port}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
