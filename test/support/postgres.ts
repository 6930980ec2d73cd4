import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from './apt.js';

/** Debian's server binaries live under /usr/lib/postgresql/<major>/bin (not on PATH). */
function findPgBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const majors = readdirSync(root)
    .filter((d) => existsSync(join(root, d, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] ? join(root, majors[0], 'bin') : null;
}

/**
 * The PostgreSQL server binaries, installing Debian's `postgresql` package when they are missing and
 * we may (root, apt). Null, with the reason, when there is no way to get them.
 */
export function postgresBinaries(): { bin: string } | { missing: string } {
  let bin = findPgBin();
  if (!bin) {
    const installed = aptInstall(['postgresql']);
    if (installed !== true) return { missing: `PostgreSQL is not installed and ${installed}` };
    bin = findPgBin();
  }
  return bin ? { bin } : { missing: 'apt installed postgresql but no initdb was found' };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The `postgres` system user when we are root (PostgreSQL refuses to run as root). */
function asServerUser(bin: string, args: string[]): void {
  const root = process.getuid?.() === 0;
  const [cmd, argv] = root ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  execFileSync(cmd, argv, { stdio: 'pipe' });
}

/**
 * A throwaway PostgreSQL cluster on loopback: initdb into a temp dir, started on a free port with
 * its socket in that dir, trust auth for local connections. stop()/start() simulate an outage;
 * destroy() removes everything.
 */
export class ThrowawayPostgres {
  readonly dir: string;
  private readonly data: string;
  private running = false;

  private constructor(
    private readonly bin: string,
    readonly port: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'boxrun-pg-'));
    this.data = join(this.dir, 'data');
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(this.dir, uid, gid);
    }
  }

  static async create(bin: string): Promise<ThrowawayPostgres> {
    const pg = new ThrowawayPostgres(bin, await freePort());
    try {
      asServerUser(join(bin, 'initdb'), [
        '-D',
        pg.data,
        '-U',
        'boxrun',
        '--auth=trust',
        '--no-sync',
        '--encoding=UTF8',
      ]);
      pg.start();
    } catch (error) {
      pg.destroy();
      throw error;
    }
    return pg;
  }

  /** postgres://boxrun@127.0.0.1:<port>/<database> */
  url(database = 'postgres'): string {
    return `postgres://boxrun@127.0.0.1:${this.port}/${database}`;
  }

  /** A fresh, empty database (one per test keeps tests independent on one server). */
  createDatabase(name: string): string {
    asServerUser(join(this.bin, 'psql'), [
      '-h',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-U',
      'boxrun',
      '-d',
      'postgres',
      '-c',
      `CREATE DATABASE "${name}"`,
    ]);
    return this.url(name);
  }

  start(): void {
    // fsync off: a test cluster's durability is not what is tested (and the disk is shared).
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    asServerUser(join(this.bin, 'pg_ctl'), [
      '-D',
      this.data,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      options,
      '-w',
      'start',
    ]);
    this.running = true;
  }

  /** Fast shutdown: connections are cut, as when the database goes away. */
  stop(): void {
    if (!this.running) return;
    asServerUser(join(this.bin, 'pg_ctl'), ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
    this.running = false;
  }

  destroy(): void {
    try {
      this.stop();
    } catch {}
    rmSync(this.dir, { recursive: true, force: true });
  }
}
