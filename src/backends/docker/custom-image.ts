import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type { InputFile } from '../../core/request.js';
import type { BuildInfo } from '../../core/result.js';
import { isGone, isNotFound, translateEngineError } from './engine.js';
import { LABEL_IMAGE_HASH, LABEL_MANAGED } from './labels.js';

export const CUSTOM_IMAGE_REPO = 'boxrun/custom';
export const LABEL_CUSTOM = 'boxrun.custom';
/** The Dockerfile's name inside the build context, chosen so a context file cannot collide with it. */
const DOCKERFILE_NAME = '.boxrun.Dockerfile';
/** What a result carries of a long build log: its tail. */
const LOG_BYTES = 256 * 1024;

export interface CustomBuildInput {
  dockerfile: string;
  context: InputFile[];
}

export interface CustomBuildOptions {
  /** The classic builder's network for RUN steps: 'none', 'default', or a network name. */
  networkMode: string;
  /** Build args (the predefined proxy variables for the allowlist policy). */
  buildArgs?: Record<string, string>;
  /** Each line of the builder's output, as it comes. */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

/** `*` matches any run of characters; everything else literally. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/** An image matches as written, or with the `:latest` the engine would add to it. */
export function imageAllowed(image: string, allowList: string[]): boolean {
  if (allowList.length === 0) return true;
  const forms = [image];
  const lastPart = image.slice(image.lastIndexOf('/') + 1);
  if (!lastPart.includes(':') && !image.includes('@')) forms.push(`${image}:latest`);
  return allowList.some((p) => forms.some((f) => globToRegExp(p).test(f)));
}

/** FORBIDDEN, naming the image and the patterns, when a configured allow-list does not match. */
export function checkImageAllowed(image: string, allowList: string[], what = 'image'): void {
  if (imageAllowed(image, allowList)) return;
  throw new BoxrunError(
    'FORBIDDEN',
    `${what} ${image} is not on the image allow-list (config images.allowList: ${allowList.join(', ')})`,
    { details: { path: 'image', image, allowList } },
  );
}

/**
 * The images a Dockerfile starts from or copies out of (`FROM x`, `COPY --from=x`), minus its own
 * stages and `scratch`. A reference built from an ARG cannot be checked and is returned as written.
 */
export function externalImagesOf(dockerfile: string): string[] {
  const lines = dockerfile.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  const stages = new Set<string>();
  const images: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      const ref = from[1]!;
      if (ref.toLowerCase() !== 'scratch' && !stages.has(ref.toLowerCase())) images.push(ref);
      if (from[2]) stages.add(from[2].toLowerCase());
      continue;
    }
    const copy = /^(?:COPY|ADD)\s.*--from=(\S+)/i.exec(line);
    if (copy) {
      const ref = copy[1]!;
      if (!stages.has(ref.toLowerCase()) && !/^\d+$/.test(ref)) images.push(ref);
    }
  }
  return images;
}

/**
 * Builds the Dockerfile of a request into `boxrun/custom:<content hash>`, once: the same Dockerfile
 * and context give the same tag, and a present image with that hash is used as it is. The build
 * runs on the engine's classic builder with the request's network policy (none unless allowed),
 * a memory cap and a time limit. A failed build is data (`BuildInfo.error`), not an exception.
 */
export class CustomImageBuilder {
  private readonly inFlight = new Map<string, Promise<BuildInfo>>();

  constructor(
    private readonly docker: Docker,
    private readonly config: BoxrunConfig['images'],
  ) {}

  /** The content hash of a build: Dockerfile, then each context file by path. */
  static hashOf(input: CustomBuildInput): string {
    const h = createHash('sha256');
    h.update(`dockerfile\0${input.dockerfile}\0`);
    const files = [...input.context].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const f of files) {
      const content = Buffer.from(f.content, f.encoding === 'base64' ? 'base64' : 'utf8');
      h.update(`${f.path}\0${f.executable ? '755' : '644'}\0${content.length}\0`);
      h.update(content);
    }
    return h.digest('hex').slice(0, 24);
  }

  static tagOf(input: CustomBuildInput): string {
    return `${CUSTOM_IMAGE_REPO}:${CustomImageBuilder.hashOf(input)}`;
  }

  /** Refuses what config forbids before anything is built. */
  check(input: CustomBuildInput): void {
    if (!this.config.allowBuilds) {
      throw new BoxrunError(
        'FORBIDDEN',
        'building images from a Dockerfile is disabled (config images.allowBuilds)',
        {
          details: { path: 'dockerfile' },
        },
      );
    }
    let bytes = Buffer.byteLength(input.dockerfile);
    for (const f of input.context)
      bytes += Buffer.byteLength(f.content, f.encoding === 'base64' ? 'base64' : 'utf8');
    if (bytes > this.config.maxContextBytes) {
      throw new BoxrunError(
        'PAYLOAD_TOO_LARGE',
        `dockerfile and context: ${bytes} bytes exceeds the limit of ${this.config.maxContextBytes} (config images.maxContextBytes)`,
        { details: { path: 'context' } },
      );
    }
    if (this.config.allowList.length > 0) {
      for (const image of externalImagesOf(input.dockerfile)) {
        if (image.includes('$')) {
          throw new BoxrunError(
            'FORBIDDEN',
            `dockerfile: FROM ${image} uses a build argument, which the image allow-list cannot check`,
            { details: { path: 'dockerfile' } },
          );
        }
        checkImageAllowed(image, this.config.allowList, 'dockerfile base image');
      }
    }
  }

  /** Builds unless built; concurrent requests for the same content share one build. */
  async ensure(input: CustomBuildInput, options: CustomBuildOptions): Promise<BuildInfo> {
    this.check(input);
    const hash = CustomImageBuilder.hashOf(input);
    const image = `${CUSTOM_IMAGE_REPO}:${hash}`;
    const started = Date.now();
    if (await this.isBuilt(image, hash)) return { image, cached: true, durationMs: 0, log: '' };
    let build = this.inFlight.get(hash);
    if (!build) {
      build = this.build(input, image, hash, options).finally(() => this.inFlight.delete(hash));
      this.inFlight.set(hash, build);
      return build;
    }
    // Someone else's build of the same content: wait for it, and say it was shared.
    const shared = await build;
    return { ...shared, cached: !shared.error, durationMs: Date.now() - started };
  }

  private async isBuilt(image: string, hash: string): Promise<boolean> {
    try {
      const info = await this.docker.getImage(image).inspect();
      return info.Config?.Labels?.[LABEL_IMAGE_HASH] === hash;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw translateEngineError(error, `inspecting ${image}`);
    }
  }

  private async build(
    input: CustomBuildInput,
    image: string,
    hash: string,
    options: CustomBuildOptions,
  ): Promise<BuildInfo> {
    const started = Date.now();
    const tar = pack();
    tar.entry({ name: DOCKERFILE_NAME, mode: 0o644 }, input.dockerfile);
    for (const f of input.context) {
      const content = Buffer.from(f.content, f.encoding === 'base64' ? 'base64' : 'utf8');
      tar.entry({ name: f.path, mode: f.executable ? 0o755 : 0o644 }, content);
    }
    tar.finalize();
    const memory = this.config.buildMemoryMb * 1024 * 1024;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.buildImage(
        tar as unknown as NodeJS.ReadableStream,
        {
          t: image,
          dockerfile: DOCKERFILE_NAME,
          labels: { [LABEL_MANAGED]: 'true', [LABEL_IMAGE_HASH]: hash, [LABEL_CUSTOM]: 'true' },
          networkmode: options.networkMode,
          ...(options.buildArgs && Object.keys(options.buildArgs).length > 0
            ? { buildargs: JSON.stringify(options.buildArgs) }
            : {}),
          memory,
          memswap: memory,
          rm: true,
          forcerm: true,
          pull: false,
        } as Docker.ImageBuildOptions,
      );
    } catch (error) {
      throw translateEngineError(error, `starting the build of ${image}`);
    }
    let log = '';
    const append = (text: string) => {
      log += text;
      if (log.length > LOG_BYTES * 2) log = log.slice(-LOG_BYTES);
    };
    const error = await new Promise<string | null>((resolve) => {
      let settled = false;
      const settle = (value: string | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      // Closing the connection cancels the classic builder's build and removes its step container.
      const stop = (why: string) => {
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        settle(why);
      };
      const timer = setTimeout(
        () => stop(`build timed out after ${this.config.buildTimeoutMs} ms (config images.buildTimeoutMs)`),
        this.config.buildTimeoutMs,
      );
      const onAbort = () => stop('build canceled');
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string }[]) => {
          const failed = err?.message ?? output?.find((o) => o.error)?.error;
          settle(failed ?? null);
        },
        (event: { stream?: string; error?: string; status?: string }) => {
          const text =
            event.stream ?? (event.error ? `${event.error}\n` : event.status ? `${event.status}\n` : '');
          if (!text) return;
          append(text);
          if (options.onLog) for (const line of text.split('\n')) if (line) options.onLog(line);
        },
      );
    });
    const durationMs = Date.now() - started;
    const tail = log.length > LOG_BYTES ? log.slice(-LOG_BYTES) : log;
    if (error) return { image, cached: false, durationMs, log: tail, error: error.trim() };
    return { image, cached: false, durationMs, log: tail };
  }

  /** Removes the given custom images, or all of them; images a container still uses stay. */
  async remove(images?: string[]): Promise<string[]> {
    const targets =
      images ??
      (await this.docker.listImages({ filters: { label: [`${LABEL_CUSTOM}=true`] } })).flatMap(
        (i) => i.RepoTags?.filter((t) => t !== '<none>:<none>') ?? [i.Id],
      );
    const removed: string[] = [];
    for (const image of targets) {
      if (!image.startsWith(`${CUSTOM_IMAGE_REPO}:`) && !image.startsWith('sha256:')) {
        throw new BoxrunError('INVALID_REQUEST', `${image} is not a boxrun custom image`);
      }
      try {
        await this.docker.getImage(image).remove();
        removed.push(image);
      } catch (error) {
        if (!isGone(error)) throw translateEngineError(error, `removing ${image}`);
      }
    }
    return removed;
  }
}
