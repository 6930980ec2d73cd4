import type { ExecutionRequest, ResourceLimits } from './request.js';
import type { RuntimeDefinition } from './runtime.js';

/** A file put into a step's work dir. */
export interface StepFile {
  path: string;
  content: Buffer;
  mode: number;
}

/**
 * What one step (compile or run) hands to the supervisor: the backends carry it to boxrun-sv
 * (src/backends/supervisor/protocol.ts encodes it), whatever isolates the step.
 */
export interface StepJob {
  files: StepFile[];
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  limits: Record<string, number>;
  outputPatterns: string[];
  stdin: Buffer;
}

export interface StepPlan {
  job: StepJob;
  limits: ResourceLimits;
}

export interface ExecutionPlan {
  request: ExecutionRequest;
  runtime: RuntimeDefinition | null;
  image: string;
  /** True when the image is a caller's own and boxrun-sv has to be mounted into it. */
  customImage: boolean;
  compile: StepPlan | null;
  /** For compiled runtimes, `job.files` is replaced by the compile step's output. */
  run: StepPlan;
}
