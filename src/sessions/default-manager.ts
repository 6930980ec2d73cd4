import { type ConfiguredExecutor, createExecutor } from '../backends/selection/create-executor.js';
import { type ConfigOverrides, loadConfig } from '../config/config.js';
import { type PythonCodeResult, type RunPythonCodeOptions, runPythonCode as runInManager } from './python.js';
import type { Session } from './session.js';
import { type CreateSessionOptions, SessionManager } from './session-manager.js';

let shared: { configured: ConfiguredExecutor; manager: SessionManager } | null = null;

/** The process-wide manager behind `createSession()`, configured like `createExecutor()`. */
export function defaultSessionManager(overrides: ConfigOverrides = {}): SessionManager {
  if (!shared) {
    const configured = createExecutor(loadConfig({ overrides }));
    shared = {
      configured,
      manager: new SessionManager({ config: configured.config, engines: configured.engines }),
    };
  }
  return shared.manager;
}

/** `const s = await createSession({ runtime: 'python' }); await s.run('python3 -V'); await s.close()` */
export function createSession(options: CreateSessionOptions = {}): Promise<Session> {
  return defaultSessionManager().create(options);
}

/** Seed 001's `run_python_code`: a throwaway Python session with the requirements installed. */
export function runPythonCode(code: string, options: RunPythonCodeOptions = {}): Promise<PythonCodeResult> {
  return runInManager(defaultSessionManager(), code, options);
}

/** Ends every session of the default manager (e.g. before a process exits). */
export async function closeDefaultSessions(): Promise<void> {
  const current = shared;
  shared = null;
  await current?.manager.close();
  await current?.configured.close();
}
