import {
  type ConfiguredExecutor,
  createExecutor,
  type ExecutorOverrides,
} from '../backends/selection/create-executor.js';
import { type BoxrunConfig, type ConfigOverrides, loadConfig } from '../config/config.js';
import { errorLine, exitCodeForError } from './exit-codes.js';

export const say = (line: string) => process.stderr.write(`${line}\n`);

/** Runs a command's body; our own faults become a sentence on stderr and an exit code, never a crash. */
export async function reportErrors(fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (error) {
    say(errorLine(error));
    process.exitCode = exitCodeForError(error);
  }
}

export interface WithExecutorOptions extends ExecutorOverrides {
  /** Config overrides from the command line. */
  config?: ConfigOverrides;
}

/**
 * A command's body with the executor the configuration asks for (createExecutor: the same one the
 * library, the service and sessions get), closed when the body ends, whatever happened. The body
 * also gets the configuration as loaded, before the executor overrides.
 */
export function withExecutor(
  options: WithExecutorOptions,
  fn: (configured: ConfiguredExecutor, config: BoxrunConfig) => Promise<void>,
): Promise<void> {
  const { config: overrides, ...executorOverrides } = options;
  return reportErrors(async () => {
    const config = loadConfig(overrides ? { overrides } : {});
    const configured = createExecutor(config, executorOverrides);
    try {
      await fn(configured, config);
    } finally {
      await configured.close();
    }
  });
}

/** For commands about the Docker engine itself (images, doctor): Docker only, no reaper, no fallback. */
export const DOCKER_ENGINE_ONLY: ExecutorOverrides = { type: 'docker', fallback: [], reaper: false };
