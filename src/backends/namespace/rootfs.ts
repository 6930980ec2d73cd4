import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { BoxrunError } from '../../core/errors.js';
import { isNotFound, translateEngineError } from '../docker/engine.js';
import { LABEL_DEADLINE, LABEL_IMAGE_HASH, LABEL_MANAGED } from '../docker/labels.js';

/** Directories every exported rootfs gets, so bwrap can mount over them on a read-only root. */
const MOUNT_POINTS = ['box', 'tmp', 'proc', 'dev', 'sys', 'workspace', 'cache', '.boxrun'];
const COMPLETE = '.boxrun-rootfs-complete';

function imageSlug(image: string): string {
  return image.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/**
 * Root filesystems of images, exported from the engine (`docker export` of a created container)
 * into `<stateDir>/rootfs/<image>-<hash>`: the namespace executor runs the very files the Docker
 * backend runs. Keyed by the image's `boxrun.hash` label (its content id for other images), so a
 * rebuilt image is exported again and the old copy removed. Without an engine, the last export of
 * an image is used as it is.
 */
export class RootfsCache {
  private readonly pending = new Map<string, Promise<string>>();
  private readonly dir: string;

  constructor(
    stateDir: string,
    private readonly docker: () => Promise<Docker>,
  ) {
    this.dir = join(stateDir, 'rootfs');
  }

  private currentFile(image: string): string {
    return join(this.dir, `${imageSlug(image)}.current`);
  }

  /** The last exported rootfs of an image, without asking the engine. */
  cached(image: string): string | null {
    try {
      const key = readFileSync(this.currentFile(image), 'utf8').trim();
      const path = join(this.dir, key);
      return existsSync(join(path, COMPLETE)) ? path : null;
    } catch {
      return null;
    }
  }

  /** The image's rootfs, exported now when it is missing or the image changed. */
  async get(image: string): Promise<string> {
    let docker: Docker;
    try {
      docker = await this.docker();
    } catch (error) {
      const cached = this.cached(image);
      if (cached) return cached;
      throw error;
    }
    let info: Docker.ImageInspectInfo;
    try {
      info = await docker.getImage(image).inspect();
    } catch (error) {
      if (isNotFound(error)) {
        throw new BoxrunError(
          'IMAGE_NOT_FOUND',
          `image ${image} is not present on the engine, so the namespace executor has no rootfs for it: run 'boxrun images build'`,
          { details: { image } },
        );
      }
      const cached = this.cached(image);
      if (cached) return cached;
      throw translateEngineError(error, `inspecting ${image}`);
    }
    const hash = info.Config?.Labels?.[LABEL_IMAGE_HASH] ?? info.Id.replace(/^sha256:/, '').slice(0, 16);
    const key = `${imageSlug(image)}-${hash}`;
    const target = join(this.dir, key);
    if (existsSync(join(target, COMPLETE))) return target;
    let job = this.pending.get(key);
    if (!job) {
      job = this.export(docker, image, key, target).finally(() => this.pending.delete(key));
      this.pending.set(key, job);
    }
    return job;
  }

  private async export(docker: Docker, image: string, key: string, target: string): Promise<string> {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(tmp, { mode: 0o755 });
    let container: Docker.Container | null = null;
    try {
      container = await docker.createContainer({
        Image: image,
        Cmd: ['true'],
        Entrypoint: [],
        Labels: { [LABEL_MANAGED]: 'true', [LABEL_DEADLINE]: String(Date.now() + 300_000) },
        HostConfig: { NetworkMode: 'none' },
      });
      const stream = await container.export();
      await new Promise<void>((resolve, reject) => {
        const tar = spawn('tar', ['-x', '--numeric-owner', '-C', tmp], { stdio: ['pipe', 'ignore', 'pipe'] });
        let err = '';
        tar.stderr.on('data', (d: Buffer) => {
          err = (err + d.toString()).slice(-2000);
        });
        tar.on('error', reject);
        tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${err}`))));
        stream.on('error', reject);
        stream.pipe(tar.stdin);
      });
      for (const dir of MOUNT_POINTS) mkdirSync(join(tmp, dir), { recursive: true, mode: 0o755 });
      writeFileSync(join(tmp, COMPLETE), `${image}\n`);
      try {
        renameSync(tmp, target);
      } catch (error) {
        // Another process exported the same image first: theirs is as good as ours.
        if (!existsSync(join(target, COMPLETE))) throw error;
        rmSync(tmp, { recursive: true, force: true });
      }
      writeFileSync(this.currentFile(image), key);
      this.removeStale(image, key);
      return target;
    } catch (error) {
      rmSync(tmp, { recursive: true, force: true });
      if (error instanceof BoxrunError) throw error;
      throw new BoxrunError(
        'SANDBOX_FAILED',
        `exporting the root filesystem of ${image}: ${(error as Error).message}`,
        { cause: error },
      );
    } finally {
      await container?.remove({ force: true }).catch(() => {});
    }
  }

  /** Older exports of the same image (a rebuilt image has a new hash). In-flight runs keep theirs open. */
  private removeStale(image: string, keep: string): void {
    const prefix = `${imageSlug(image)}-`;
    for (const name of readdirSync(this.dir)) {
      if (name === keep || !name.startsWith(prefix) || name.includes('.tmp-')) continue;
      if (!/^[0-9a-f]{16}$/.test(name.slice(prefix.length))) continue;
      rmSync(join(this.dir, name), { recursive: true, force: true });
    }
  }
}
