export { connectEngine } from './backends/docker/engine.js';
export {
  type ConfiguredExecutor,
  createExecutor as createExecutorFromConfig,
  type ExecutorOverrides,
} from './backends/selection/create-executor.js';
export {
  DockerExecutor,
  type DockerExecutorOptions,
  HostExecutor,
  NamespaceExecutor,
  PodmanExecutor,
} from './backends/selection/executors.js';
export {
  MultiEngineExecutor,
  type MultiEngineExecutorOptions,
} from './backends/selection/multi-engine-executor.js';
export { SelectingExecutor } from './backends/selection/select-executor.js';
export { TieredExecutor } from './backends/selection/tiered-executor.js';
export { type BoxrunConfig, type ConfigOverrides, loadConfig } from './config/config.js';
export { BoxrunError, type BoxrunErrorCode, isBoxrunError } from './core/errors.js';
export type {
  ExecuteOptions,
  Executor,
  ExecutorCapabilities,
  HealthReport,
  PreparedProgram,
  RunVariant,
} from './core/executor.js';
export { ISOLATION_TIERS, type IsolationTier, VM_TIER_SETUP_COMMAND } from './core/isolation.js';
export type { ExecutionRequest, ExecutionRequestInput, ResourceLimits } from './core/request.js';
export type {
  ExecutionResult,
  ExecutionStatus,
  IsolationLevel,
  OutputFile,
  StepResult,
} from './core/result.js';
export { compareOutput } from './judge/compare.js';
export { judge } from './judge/judge.js';
export { parseDoctestSummary } from './reports/doctest-summary.js';
export { parseJUnitXml } from './reports/junit-xml.js';
export { parseTap } from './reports/tap.js';
export { RUNTIMES, type RuntimeDefinition } from './runtimes/definitions.js';
export { defaultRegistry, RuntimeRegistry } from './runtimes/registry.js';
export {
  closeDefaultSessions,
  createSession,
  defaultSessionManager,
  runPythonCode,
} from './sessions/default-manager.js';
export {
  installPythonPackages,
  type PythonCodeResult,
  type RunPythonCodeOptions,
} from './sessions/python.js';
export type {
  CommandHandle,
  CommandOptions,
  CommandResult,
  FileEntry,
  Session,
  SessionFiles,
  SessionInfo,
} from './sessions/session.js';
export { type CreateSessionOptions, SessionManager } from './sessions/session-manager.js';

import { createExecutor as createConfiguredExecutor } from './backends/selection/create-executor.js';
import { type ConfigOverrides, loadConfig } from './config/config.js';
import type { Executor } from './core/executor.js';

/**
 * The executor boxrun.toml / BOXRUN_* / the overrides given ask for (`[executor]` type and
 * fallback chain), the same one `boxrun run` and the service use.
 */
export function createExecutor(overrides: ConfigOverrides = {}): Executor {
  return createConfiguredExecutor(loadConfig({ overrides })).executor;
}
