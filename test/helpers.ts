import { DockerExecutor } from '../src/backends/selection/executors.js';
import { type ConfigOverrides, loadConfig } from '../src/config/config.js';

/** An executor on the real engine, as configured for this machine. */
export function dockerExecutor(overrides: ConfigOverrides = {}): DockerExecutor {
  return new DockerExecutor({ config: loadConfig({ overrides }) });
}

export const src = (path: string, content: string) => ({ path, content });
