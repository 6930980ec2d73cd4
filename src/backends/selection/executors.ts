import { StepExecutor } from '../../judge/step-executor.js';
import { DockerBackend, type DockerBackendOptions } from '../docker/docker-backend.js';
import type { ConnectedEngine } from '../docker/engine.js';
import type { ImageManager } from '../docker/image-manager.js';
import type { WarmPoolStats } from '../docker/warm-pool.js';
import { HostBackend, type HostExecutorOptions } from '../host/host-executor.js';
import { NamespaceBackend, type NamespaceExecutorOptions } from '../namespace/namespace-executor.js';
import { PodmanBackend } from '../podman/podman-executor.js';

// Every backend's Executor is the one run flow (judge/step-executor.ts) over its step backend.

export type DockerExecutorOptions = DockerBackendOptions;

/** Docker: one-shot sandboxes, or warm-pool sandboxes when config.pool asks for them. */
export class DockerExecutor<B extends DockerBackend = DockerBackend> extends StepExecutor<B> {
  constructor(options: DockerExecutorOptions, backend?: B) {
    super(backend ?? (new DockerBackend(options) as B), options);
  }

  /** The engine, connected on first use; a failed connection is retried on the next call. */
  engine(): Promise<ConnectedEngine> {
    return this.backend.engine();
  }

  imageManager(): Promise<ImageManager> {
    return this.backend.imageManager();
  }

  /** Warm pool counters (for /metrics and doctor); null when no pool is attached. */
  poolStats(): WarmPoolStats | null {
    return this.backend.poolStats();
  }
}

/** Podman through its Docker-compatible API socket (config podman.host). */
export class PodmanExecutor extends DockerExecutor<PodmanBackend> {
  constructor(options: DockerExecutorOptions) {
    super(options, new PodmanBackend(options));
  }
}

/** Linux namespaces via bubblewrap (isolation level `process`). */
export class NamespaceExecutor extends StepExecutor<NamespaceBackend> {
  constructor(options: NamespaceExecutorOptions) {
    super(new NamespaceBackend(options), options);
  }
}

/** The program runs on the host with rlimits only (isolation level `none`; development and testing). */
export class HostExecutor extends StepExecutor<HostBackend> {
  constructor(options: HostExecutorOptions) {
    super(new HostBackend(options), options);
  }
}
