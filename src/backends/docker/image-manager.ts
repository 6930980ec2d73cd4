import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import { BoxrunError } from '../../core/errors.js';
import type { RuntimeRegistry } from '../../runtimes/registry.js';
import { isNotFound, translateEngineError } from './engine.js';
import { LABEL_IMAGE_HASH, LABEL_MANAGED } from './labels.js';

export const BASE_IMAGE = 'boxrun/base:bookworm';
export const SANDBOX_IMAGE = 'boxrun/sandbox:bookworm';
const UPSTREAM_BASE = 'debian:bookworm-slim';
const LABEL_RUNTIME = 'boxrun.runtime';

/** The repo's runtimes/ and supervisor/ folders, from src/… and from dist/… alike. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const runtimesDir = `${ROOT}runtimes`;
const supervisorSource = `${ROOT}supervisor/boxrun-sv.c`;

export interface ImageStatus {
  runtime: string;
  image: string;
  present: boolean;
  current: boolean;
}

export type ProgressFn = (line: string) => void;

interface BuildDefinition {
  name: string;
  image: string;
  /** Context path → content and mode (npm packages keep their executable bits). */
  files: Record<string, { content: Buffer; mode: number }>;
  hash: string;
}

function sha(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
}

/** Builds, checks and removes boxrun's images, each labelled with the hash of what it was built from. */
export class ImageManager {
  /** The supervisor volume being created, if any (one seeding at a time). */
  private seeding: Promise<string> | null = null;

  constructor(
    private readonly docker: Docker,
    private readonly registry: RuntimeRegistry,
  ) {}

  private sandboxDefinition(): BuildDefinition {
    const dockerfile = readFileSync(`${runtimesDir}/sandbox/Dockerfile`);
    const source = readFileSync(supervisorSource);
    return {
      name: 'sandbox',
      image: SANDBOX_IMAGE,
      files: {
        Dockerfile: { content: dockerfile, mode: 0o644 },
        'boxrun-sv.c': { content: source, mode: 0o644 },
      },
      hash: sha(dockerfile, source),
    };
  }

  private runtimeDefinition(name: string): BuildDefinition {
    const runtime = this.registry.get(name);
    const dockerfile = readFileSync(`${runtimesDir}/${runtime.dockerfile}/Dockerfile`);
    const files: BuildDefinition['files'] = { Dockerfile: { content: dockerfile, mode: 0o644 } };
    const versions: string[] = [];
    for (const [target, pkg] of Object.entries(runtime.contextPackages ?? {})) {
      const dir = `${ROOT}node_modules/${pkg}`;
      if (!existsSync(`${dir}/package.json`)) {
        throw new BoxrunError(
          'IMAGE_BUILD_FAILED',
          `${runtime.name} needs the npm package ${pkg}: run 'npm ci' first`,
        );
      }
      versions.push(`${pkg}@${JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')).version}`);
      for (const rel of listFiles(dir)) {
        files[`${target}/${rel}`] = {
          content: readFileSync(`${dir}/${rel}`),
          mode: statSync(`${dir}/${rel}`).mode & 0o755,
        };
      }
    }
    return {
      name: runtime.name,
      image: runtime.image,
      files,
      hash: sha(dockerfile, this.sandboxDefinition().hash, ...versions),
    };
  }

  private async labelsOf(image: string): Promise<Record<string, string> | null> {
    try {
      const info = await this.docker.getImage(image).inspect();
      return info.Config?.Labels ?? {};
    } catch (error) {
      if (isNotFound(error)) return null;
      throw translateEngineError(error, `inspecting image ${image}`);
    }
  }

  private async isCurrent(def: BuildDefinition): Promise<boolean> {
    const labels = await this.labelsOf(def.image);
    return labels?.[LABEL_IMAGE_HASH] === def.hash;
  }

  async status(): Promise<ImageStatus[]> {
    return Promise.all(
      this.registry.all.map(async (r) => {
        const def = this.runtimeDefinition(r.name);
        const labels = await this.labelsOf(def.image);
        return {
          runtime: r.name,
          image: def.image,
          present: labels !== null,
          current: labels?.[LABEL_IMAGE_HASH] === def.hash,
        };
      }),
    );
  }

  /** IMAGE_NOT_FOUND with the command that builds it, instead of a failure deep inside create. */
  async requireImage(image: string, runtime: string | null): Promise<void> {
    if ((await this.labelsOf(image)) !== null) return;
    throw new BoxrunError(
      'IMAGE_NOT_FOUND',
      runtime
        ? `image ${image} for runtime ${runtime} is not built: run 'boxrun images build ${runtime}' (or 'boxrun setup')`
        : `image ${image} is not present on the engine: pull or build it first`,
      { details: { image, ...(runtime ? { runtime } : {}) } },
    );
  }

  async ensureBaseImage(
    progress: ProgressFn,
    options: { stateDir: string },
  ): Promise<'present' | 'pulled' | 'debootstrapped'> {
    if ((await this.labelsOf(BASE_IMAGE)) !== null) return 'present';
    progress(`base image: pulling ${UPSTREAM_BASE}`);
    try {
      await this.pull(UPSTREAM_BASE, undefined, { timeoutMs: 60_000 });
      const [repo, tag] = BASE_IMAGE.split(':') as [string, string];
      await this.docker.getImage(UPSTREAM_BASE).tag({ repo, tag });
      return 'pulled';
    } catch (error) {
      progress(
        `base image: no registry answered (${(error as Error).message.split('\n')[0]}); building it with debootstrap`,
      );
    }
    await debootstrapAndImport(this.docker, `${options.stateDir}/rootfs-bookworm`, progress);
    return 'debootstrapped';
  }

  /**
   * Pulls an image from its registry, reporting one line per layer state change (not every byte).
   * Rejects on a registry error or after `timeoutMs` (default 10 minutes).
   */
  async pull(image: string, progress?: ProgressFn, options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.pull(image);
    } catch (error) {
      throw translateEngineError(error, `pulling ${image}`);
    }
    const last = new Map<string, string>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        reject(new BoxrunError('IMAGE_NOT_FOUND', `pulling ${image} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string }[]) => {
          clearTimeout(timer);
          const failed = err?.message ?? output?.find((o) => o.error)?.error;
          if (failed) reject(new BoxrunError('IMAGE_NOT_FOUND', `pulling ${image} failed: ${failed}`));
          else resolve();
        },
        (event: { id?: string; status?: string }) => {
          if (!progress || !event.status) return;
          const key = event.id ?? '';
          if (last.get(key) === event.status) return;
          last.set(key, event.status);
          progress(`${image}: ${key ? `${key}: ` : ''}${event.status}`);
        },
      );
    });
  }

  /** Builds what is missing or out of date; `force` rebuilds anyway. Returns what was built. */
  async build(names: string[], progress: ProgressFn, options: { force?: boolean } = {}): Promise<string[]> {
    const built: string[] = [];
    const sandbox = this.sandboxDefinition();
    const defs = names.map((n) => this.runtimeDefinition(n));
    if (options.force || !(await this.isCurrent(sandbox))) {
      await this.buildOne(sandbox, progress);
      built.push(sandbox.name);
    }
    for (const def of defs) {
      if (!options.force && (await this.isCurrent(def))) {
        progress(`${def.name}: ${def.image} is current`);
        continue;
      }
      await this.buildOne(def, progress);
      built.push(def.name);
    }
    return built;
  }

  private async buildOne(def: BuildDefinition, progress: ProgressFn): Promise<void> {
    if ((await this.labelsOf(BASE_IMAGE)) === null) {
      throw new BoxrunError('IMAGE_NOT_FOUND', `base image ${BASE_IMAGE} is missing: run 'boxrun setup'`);
    }
    const started = Date.now();
    progress(`${def.name}: building ${def.image}`);
    const tar = pack();
    for (const [name, { content, mode }] of Object.entries(def.files)) tar.entry({ name, mode }, content);
    tar.finalize();
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.buildImage(tar as unknown as NodeJS.ReadableStream, {
        t: def.image,
        labels: { [LABEL_MANAGED]: 'true', [LABEL_IMAGE_HASH]: def.hash, [LABEL_RUNTIME]: def.name },
        rm: true,
        forcerm: true,
      });
    } catch (error) {
      throw translateEngineError(error, `building ${def.image}`);
    }
    const tail: string[] = [];
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string }[]) => {
          const failed = err?.message ?? output.find((o) => o.error)?.error;
          if (failed) {
            reject(
              new BoxrunError(
                'IMAGE_BUILD_FAILED',
                `building ${def.image} failed: ${failed}\n${tail.join('')}`,
              ),
            );
          } else resolve();
        },
        (event: { stream?: string; error?: string }) => {
          const line = event.stream ?? '';
          tail.push(line);
          if (tail.length > 30) tail.shift();
          // One line per Dockerfile step, not the package manager's wall of text.
          if (/^Step \d+\/\d+ :/.test(line)) progress(`${def.name}:   ${line.trim().slice(0, 120)}`);
        },
      );
    });
    progress(`${def.name}: built ${def.image} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /** A named volume holding boxrun-sv, mounted read-only into custom images. Created once per build. */
  supervisorVolume(): Promise<string> {
    // One seeding at a time in this process; `boxrun setup` seeds it before any execution needs it.
    this.seeding ??= this.ensureSupervisorVolume().finally(() => {
      this.seeding = null;
    });
    return this.seeding;
  }

  private async ensureSupervisorVolume(): Promise<string> {
    const name = `boxrun-sv-${this.sandboxDefinition().hash}`;
    try {
      await this.docker.getVolume(name).inspect();
      return name;
    } catch (error) {
      if (!isNotFound(error)) throw translateEngineError(error, 'inspecting the supervisor volume');
    }
    await this.requireImage(SANDBOX_IMAGE, 'sandbox');
    try {
      await this.docker.createVolume({ Name: name, Labels: { [LABEL_MANAGED]: 'true' } });
      // An empty named volume mounted over a path with content is seeded from the image.
      const seeder = await this.docker.createContainer({
        Image: SANDBOX_IMAGE,
        Cmd: ['true'],
        Labels: { [LABEL_MANAGED]: 'true', 'boxrun.deadline': String(Date.now() + 60_000) },
        HostConfig: {
          NetworkMode: 'none',
          Mounts: [{ Type: 'volume', Source: name, Target: '/opt/boxrun' }],
          // Rootful Podman otherwise asks for nofile/nproc=1048576, which runc may not be allowed to set.
          Ulimits: [
            { Name: 'nofile', Soft: 1024, Hard: 1024 },
            { Name: 'nproc', Soft: 32768, Hard: 32768 },
          ],
        },
      });
      await seeder.start();
      await seeder.wait();
      await seeder.remove({ force: true });
      return name;
    } catch (error) {
      await this.docker
        .getVolume(name)
        .remove()
        .catch(() => {});
      throw translateEngineError(error, 'seeding the supervisor volume');
    }
  }

  async listManaged(): Promise<
    { image: string; runtime: string; hash: string; sizeBytes: number; id: string }[]
  > {
    const list = await this.docker.listImages({ filters: { label: [`${LABEL_MANAGED}=true`] } });
    return list.flatMap((img) =>
      (img.RepoTags ?? ['<none>:<none>']).map((tag) => ({
        image: tag,
        runtime: img.Labels?.[LABEL_RUNTIME] ?? '',
        hash: img.Labels?.[LABEL_IMAGE_HASH] ?? '',
        sizeBytes: img.Size,
        id: img.Id,
      })),
    );
  }

  async remove(names: string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const n of names) {
      const image =
        n === 'sandbox'
          ? SANDBOX_IMAGE
          : n === 'base'
            ? BASE_IMAGE
            : n.startsWith('boxrun/custom:')
              ? n
              : this.registry.get(n).image;
      try {
        await this.docker.getImage(image).remove();
        removed.push(image);
      } catch (error) {
        if (!isNotFound(error)) throw translateEngineError(error, `removing ${image}`);
      }
    }
    return removed;
  }

  /** Removes boxrun images no current tag points at (old builds), and dangling layers of ours. */
  async prune(): Promise<number> {
    const list = await this.docker.listImages({ filters: { label: [`${LABEL_MANAGED}=true`] } });
    let removed = 0;
    for (const img of list) {
      const tagged = (img.RepoTags ?? []).some((t) => t !== '<none>:<none>');
      if (tagged) continue;
      try {
        await this.docker.getImage(img.Id).remove();
        removed++;
      } catch {
        // in use by a container: kept
      }
    }
    return removed;
  }
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(`${dir}/${prefix}`).flatMap((name) => {
    const rel = prefix ? `${prefix}/${name}` : name;
    return statSync(`${dir}/${rel}`).isDirectory() ? listFiles(dir, rel) : [rel];
  });
}

function run(cmd: string, args: string[], progress: ProgressFn): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        progress(err.trim());
        reject(
          new BoxrunError(
            'SETUP_FAILED',
            `${cmd} ${args.join(' ')} exited with ${code}: ${err.trim().split('\n').pop()}`,
          ),
        );
      }
    });
  });
}

/** No registry: a minimal Debian from Debian's own packages, imported over the Engine API. */
async function debootstrapAndImport(docker: Docker, dir: string, progress: ProgressFn): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new BoxrunError(
      'SETUP_FAILED',
      `cannot build ${BASE_IMAGE}: no registry answered and debootstrap needs root. Run 'sudo boxrun setup', or pull ${UPSTREAM_BASE} on a machine with a registry and load it.`,
    );
  }
  if (!existsSync('/usr/sbin/debootstrap')) {
    progress('base image: installing debootstrap');
    await run('apt-get', ['install', '-y', '-q', 'debootstrap'], progress).catch(async () => {
      await run('apt-get', ['update', '-q'], progress);
      await run('apt-get', ['install', '-y', '-q', 'debootstrap'], progress);
    });
  }
  await run('rm', ['-rf', dir], progress);
  progress('base image: debootstrap --variant=minbase bookworm (about 30 s)');
  await run('debootstrap', ['--variant=minbase', 'bookworm', dir, 'http://deb.debian.org/debian'], progress);
  progress(`base image: importing as ${BASE_IMAGE}`);
  const tar = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [repo, tag] = BASE_IMAGE.split(':') as [string, string];
  const stream = await docker.importImage(
    tar.stdout as unknown as string,
    { repo, tag, changes: [`LABEL ${LABEL_MANAGED}=true`] } as object,
  );
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
  );
  await run('rm', ['-rf', dir], progress);
}
