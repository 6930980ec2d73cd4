import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { DockerExecutor } from '../src/backends/selection/executors.js';
import type { PreparedProgram } from '../src/core/executor.js';

/** One trivial program, as every path runs it. */
export interface BenchProgram {
  /** "python print", "C hello", "node print" */
  name: string;
  runtime: string;
  image: string;
  /** The file boxrun gets (for C: the source; the compiled binary is used everywhere else). */
  file: { path: string; content: string };
  /** argv inside /b (bare: the image's rootfs; docker: a read-only bind mount of the same dir). */
  argv: (dir: string) => string[];
  env: Record<string, string>;
  expected: string;
}

/** One way of running a program once; resolves with its stdout. */
export type RunOnce = () => Promise<string>;

/**
 * boxrun's own share of each execution: wall time minus the program's run time (fork to exit) as
 * the supervisor measured it. Unlike "minus bare", this does not depend on how the program itself
 * fares against other load on a shared machine.
 */
export const boxrunOverheadMs = new Map<RunOnce, number[]>();

/** Run a process, collect stdout, fail on a non-zero exit. */
export function runProcess(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString()}`));
    });
  });
}

/**
 * The image's own root filesystem, mounted on the host (an overlay of its layers with a throwaway
 * upper dir), so the bare path runs the very same interpreter binary and libraries as the
 * container, only without the container. Needs root and a local overlay2 engine; null otherwise.
 */
export async function mountImageRootfs(docker: Docker, image: string, base: string): Promise<string | null> {
  try {
    const info = await docker.getImage(image).inspect();
    const data = (info.GraphDriver?.Data ?? {}) as Record<string, string>;
    if (info.GraphDriver?.Name !== 'overlay2' || !data.UpperDir) return null;
    const layers = [data.UpperDir, ...(data.LowerDir ? data.LowerDir.split(':') : [])].join(':');
    const root = join(base, 'root');
    for (const d of ['upper', 'work', 'root']) mkdirSync(join(base, d), { recursive: true });
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${layers},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`,
      root,
    ]);
    return root;
  } catch {
    return null;
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir]);
  } catch {
    // not mounted
  }
}

/** Bare process: chroot into the image's rootfs (same binary), program files at /b in it. */
export function barePath(rootfs: string, program: BenchProgram): RunOnce {
  return () => runProcess('/usr/sbin/chroot', [rootfs, ...program.argv('/b')], program.env);
}

/** `docker run --rm` through the CLI, with the security settings a boxrun sandbox has. */
export function dockerRunPath(programDir: string, program: BenchProgram): RunOnce {
  const args = [
    'run',
    '--rm',
    '--network',
    'none',
    '--read-only',
    '--tmpfs',
    '/box:rw,exec,size=64m',
    '--tmpfs',
    '/tmp:rw,size=64m',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--user',
    '1000:1000',
    '--memory',
    '256m',
    '--memory-swap',
    '256m',
    '--pids-limit',
    '128',
    '--cpus',
    '1',
    '-v',
    `${programDir}:/b:ro`,
    '-w',
    '/box',
    ...Object.entries(program.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    '--entrypoint',
    program.argv('/b')[0]!,
    program.image,
    ...program.argv('/b').slice(1),
  ];
  return () => runProcess('docker', args);
}

/** A long-running container to `docker exec` into (dockerode, the Engine API). */
export async function startExecTarget(
  docker: Docker,
  programDir: string,
  program: BenchProgram,
): Promise<{ run: RunOnce; stop: () => Promise<void> }> {
  const container = await docker.createContainer({
    Image: program.image,
    Entrypoint: ['sleep'],
    Cmd: ['infinity'],
    User: '1000:1000',
    WorkingDir: '/tmp',
    Labels: { 'boxrun.bench': 'exec-target' },
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,size=64m' },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: 256 * 1024 * 1024,
      PidsLimit: 128,
      Binds: [`${programDir}:/b:ro`],
    },
  });
  await container.start();
  const env = Object.entries(program.env).map(([k, v]) => `${k}=${v}`);
  const run: RunOnce = async () => {
    const exec = await container.exec({
      Cmd: program.argv('/b'),
      Env: env,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Duplex;
    const out: Buffer[] = [];
    let pending: Buffer = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        while (pending.length >= 8) {
          const size = pending.readUInt32BE(4);
          if (pending.length < 8 + size) break;
          if (pending[0] === 1) out.push(pending.subarray(8, 8 + size));
          pending = pending.subarray(8 + size);
        }
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    // The exit status is part of what every other path reports.
    const info = await exec.inspect();
    if (info.ExitCode !== 0) throw new Error(`exec exited ${info.ExitCode}`);
    return Buffer.concat(out).toString();
  };
  return { run, stop: () => container.remove({ force: true }).then(() => {}) };
}

/** boxrun: execute() for interpreted programs; prepare once + runPrepared for compiled ones. */
export async function boxrunPath(executor: DockerExecutor, program: BenchProgram): Promise<RunOnce> {
  const request = { runtime: program.runtime, files: [program.file] };
  if (program.runtime === 'c') {
    const prepared: PreparedProgram = await executor.prepare(request);
    if (prepared.failed)
      throw new Error(`compiling the benchmark program failed: ${prepared.failed.message}`);
    const run: RunOnce = async () => {
      const t0 = performance.now();
      const r = await executor.runPrepared(prepared);
      if (r.status !== 'ok') throw new Error(`boxrun: ${r.status} ${r.message ?? ''}`);
      boxrunOverheadMs.get(run)!.push(performance.now() - t0 - r.durationMs);
      return r.stdout;
    };
    boxrunOverheadMs.set(run, []);
    return run;
  }
  const run: RunOnce = async () => {
    const t0 = performance.now();
    const r = await executor.execute(request);
    if (r.status !== 'ok') throw new Error(`boxrun: ${r.status} ${r.message ?? ''}`);
    boxrunOverheadMs.get(run)!.push(performance.now() - t0 - r.durationMs);
    return r.stdout;
  };
  boxrunOverheadMs.set(run, []);
  return run;
}

export function makeProgramDir(): string {
  return mkdtempSync(join(tmpdir(), 'boxrun-bench-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
