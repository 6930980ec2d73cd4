import type Docker from 'dockerode';
import type { ResourceLimits } from '../../core/request.js';
import type { Sandbox } from './sandbox.js';

/** Where a sandbox comes from: made on demand, or taken warm from a pool. */
export interface SandboxSource {
  acquire(
    image: string,
    limits: ResourceLimits,
    makeSpec: () => Docker.ContainerCreateOptions,
  ): Promise<Sandbox>;
}
