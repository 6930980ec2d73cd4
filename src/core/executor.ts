import type { ExecutionPlan, StepFile, StepJob, StepPlan } from './plan.js';
import type { ExecutionRequestInput } from './request.js';
import type { BuildInfo, ExecutionResult, IsolationLevel, RefusedFile, StepResult } from './result.js';

export interface ExecutorCapabilities {
  backend: string;
  isolationLevel: IsolationLevel;
  platform: NodeJS.Platform;
  supportsCpuLimit: boolean;
  supportsMemoryLimit: boolean;
  /** Swap limited to the memory limit (memory+swap); without it a program may swap past its limit. */
  supportsSwapLimit?: boolean;
  supportsPidsLimit?: boolean;
  supportsDiskLimit: boolean;
  supportsNetworkIsolation: boolean;
  supportsReadonlyRootfs: boolean;
  networkPolicies: string[];
  runtimes: string[];
  /** The sandboxes' seccomp profile: 'default' (the engine's), 'unconfined', or the profile file. */
  seccomp?: string;
  /** The sandboxes' AppArmor profile; 'unsupported' when the host has no AppArmor. */
  apparmor?: string;
  /** Whether requests may carry a Dockerfile (buildAndRun). */
  supportsCustomBuilds?: boolean;
  engine?: {
    version: string;
    apiVersion: string;
    cgroupVersion: string;
    /** The kernel the sandboxes' cgroups belong to (the engine's, not necessarily this host's). */
    kernelVersion?: string;
    storageDriver: string;
    runtime: string;
  };
}

export interface HealthReport {
  ok: boolean;
  engine: { reachable: boolean; endpoint: string; version?: string; error?: string };
  images: { runtime: string; image: string; present: boolean; current: boolean }[];
  problems: string[];
}

export interface ExecuteOptions {
  /** Aborting kills the program and ends the execution with an error of code CANCELED. */
  signal?: AbortSignal;
  /** Called with output chunks as the program writes them. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** An id to label the sandbox with; one is generated otherwise. */
  id?: string;
  /** Called with each line of a request's Dockerfile build as the builder writes it. */
  onBuildLog?: (line: string) => void;
}

export interface PrepareOptions {
  id?: string;
  signal?: AbortSignal;
  /** Compile with a test framework's flags (e.g. "doctest" for C++). */
  testFramework?: string;
  /** Called with each line of a request's Dockerfile build as the builder writes it. */
  onBuildLog?: (line: string) => void;
}

/** A validated request whose program is compiled (when its runtime compiles) and ready to run. */
export interface PreparedProgram {
  id: string;
  plan: ExecutionPlan;
  compile?: StepResult;
  /** For requests with a Dockerfile: the image build (or the cache hit). */
  build?: BuildInfo;
  /** What each run starts with: the input files, or the compile step's output. */
  files: StepJob['files'];
  /** Set when compiling failed; every run then returns it. */
  failed: ExecutionResult | null;
}

/** What may differ between runs of one prepared program (test cases). */
export interface RunVariant {
  stdin?: string | Buffer;
  /** Replaces the request's argv. */
  argv?: string[];
  timeoutMs?: number;
}

/** One way of running untrusted code. Every backend passes the same conformance suite. */
export interface Executor {
  execute(request: ExecutionRequestInput, options?: ExecuteOptions): Promise<ExecutionResult>;
  /** Compile once… */
  prepare(request: ExecutionRequestInput, options?: PrepareOptions): Promise<PreparedProgram>;
  /** …run many times, each in a fresh sandbox. */
  runPrepared(
    program: PreparedProgram,
    variant?: RunVariant,
    options?: ExecuteOptions,
  ): Promise<ExecutionResult>;
  healthCheck(): Promise<HealthReport>;
  /** Make the first execution fast: check images, start pools. */
  warmup(): Promise<void>;
  capabilities(): Promise<ExecutorCapabilities>;
  isolationLevel(): IsolationLevel;
  /** Idempotent: waits for cleanup of every sandbox this executor started. */
  close(): Promise<void>;
}

/** What a backend is asked to set up before any step of a plan runs. */
export interface PlanSetup {
  /** For requests with a Dockerfile: the image build (or the cache hit); the plan's image is then the built one. */
  build?: BuildInfo;
  /** Set when the program cannot run at all (a failed image build); every run then returns it. */
  failed?: ExecutionResult;
}

/** One step (compile or run) of a planned execution, as a backend runs it. */
export interface StepRun {
  /** The execution's id: sandbox labels, network policy. */
  id: string;
  plan: ExecutionPlan;
  step: StepPlan;
  /** The run step's signal and live output; a compile step gets only the signal. */
  options: ExecuteOptions;
  /** True for the compile step (no live output). */
  compiling: boolean;
}

/** What one step produced: its result and the files it left (a compile step's are the next runs' input). */
export interface StepOutput {
  step: StepResult;
  files: StepFile[];
  refused: RefusedFile[];
}

/**
 * A backend: how one step runs (a container, a pool sandbox, bubblewrap, a host process). The run
 * flow above it (src/judge/step-executor.ts) validates and plans the request once, decides "judge
 * or run once" and compiles once and runs many times over these calls.
 */
export interface StepBackend {
  isolationLevel(): IsolationLevel;
  /** Checks and set-up a plan needs before its first step (engine, images, network policy, build). */
  prepare(plan: ExecutionPlan, id: string, options: PrepareOptions): Promise<PlanSetup>;
  /** Runs one step to its end; throws CANCELED when the signal ended it, ENGINE_UNAVAILABLE when it cannot run. */
  runStep(run: StepRun): Promise<StepOutput>;
  healthCheck(): Promise<HealthReport>;
  warmup(): Promise<void>;
  capabilities(): Promise<ExecutorCapabilities>;
  /** Idempotent: waits for cleanup of every sandbox this backend started. */
  close(): Promise<void>;
}
