import { DockerBackend, type DockerBackendOptions } from '../docker/docker-backend.js';

/**
 * Podman through its Docker-compatible API socket (config podman.host): the Docker backend with
 * another endpoint. The differences Podman needs (podman-quirks.ts) are applied by DockerBackend
 * to any engine that turns out to be Podman, so they hold for a discovered Podman socket too.
 */
export class PodmanBackend extends DockerBackend {
  protected override readonly backendName: string = 'podman';

  constructor(options: DockerBackendOptions) {
    super({
      ...options,
      config: { ...options.config, docker: { ...options.config.docker, host: options.config.podman.host } },
    });
  }
}
