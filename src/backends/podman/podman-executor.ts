import { DockerExecutor, type DockerExecutorOptions } from '../docker/docker-executor.js';

/**
 * Podman through its Docker-compatible API socket (config podman.host): the Docker executor with
 * another endpoint. The differences Podman needs (podman-quirks.ts) are applied by DockerExecutor
 * to any engine that turns out to be Podman, so they hold for a discovered Podman socket too.
 */
export class PodmanExecutor extends DockerExecutor {
  protected override readonly backendName: string = 'podman';

  constructor(options: DockerExecutorOptions) {
    super({
      ...options,
      config: { ...options.config, docker: { ...options.config.docker, host: options.config.podman.host } },
    });
  }
}
