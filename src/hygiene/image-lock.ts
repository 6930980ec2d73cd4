import type Docker from 'dockerode';
import { translateEngineError } from '../backends/docker/engine.js';
import { LABEL_IMAGE_HASH } from '../backends/docker/labels.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';

export interface ImageLock {
  generatedAt: string;
  images: Record<string, { image: string; id: string; hash: string | null; repoDigests: string[] }>;
}

/** runtimes/images.lock.json: every runtime image pinned by content id (and digest when pushed). */
export async function lockImages(docker: Docker, registry: RuntimeRegistry): Promise<ImageLock> {
  const lock: ImageLock = { generatedAt: new Date().toISOString(), images: {} };
  for (const runtime of registry.all) {
    try {
      const info = await docker.getImage(runtime.image).inspect();
      lock.images[runtime.name] = {
        image: runtime.image,
        id: info.Id,
        hash: info.Config?.Labels?.[LABEL_IMAGE_HASH] ?? null,
        repoDigests: info.RepoDigests ?? [],
      };
    } catch (error) {
      throw translateEngineError(error, `inspecting ${runtime.image} for the lock file`);
    }
  }
  return lock;
}

/** Which runtime images differ from the lock file (rebuilt, or missing from it). */
export async function verifyLock(
  docker: Docker,
  registry: RuntimeRegistry,
  lock: ImageLock,
): Promise<{ runtime: string; expected: string | null; actual: string | null }[]> {
  const current = await lockImages(docker, registry).catch(() => null);
  return registry.all
    .map((r) => ({
      runtime: r.name,
      expected: lock.images[r.name]?.id ?? null,
      actual: current?.images[r.name]?.id ?? null,
    }))
    .filter((d) => d.expected !== d.actual);
}
