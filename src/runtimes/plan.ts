import { posix } from 'node:path';
import type { LimitsConfig } from '../config/config.js';
import { BoxrunError } from '../core/errors.js';
import type { RunVariant } from '../core/executor.js';
import type { ExecutionPlan, StepJob, StepPlan } from '../core/plan.js';
import {
  type ExecutionRequest,
  type ExecutionRequestInput,
  executionRequestSchema,
  MAX_FILE_BYTES,
  MAX_STDIN_BYTES,
  MAX_TOTAL_INPUT_BYTES,
  type ResourceLimits,
} from '../core/request.js';
import type { IsolationLevel, ResultOrigin } from '../core/result.js';
import { layoutJavaSources } from './java-source.js';
import type { RuntimeRegistry } from './registry.js';

/** The plan's shape is core's (executors and prepared programs carry one); computed here. */
export type { ExecutionPlan, StepPlan };

export const BASE_ENV: Record<string, string> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/tmp',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
};

/** Output files of a compile step may be large (a static Go binary); they are capped here. */
const COMPILE_ARTIFACT_BYTES = 256 * 1024 * 1024;
const RUN_OUTPUT_FILES_BYTES = 64 * 1024 * 1024;

export interface PlanDefaults {
  limits: LimitsConfig;
  compileLimits: LimitsConfig;
  maxLimits: LimitsConfig;
  /** config.minCompileTimeoutMs: a loaded machine's floor under every compile's wall limit. */
  minCompileTimeoutMs?: number;
}

/** Requests validateRequest returned: planning one of them again does not parse it again. */
const validated = new WeakSet<object>();

/** zod's issue path, as the dotted path a client can find in its own request. */
export function validateRequest(input: unknown): ExecutionRequest {
  if (typeof input === 'object' && input !== null && validated.has(input)) return input as ExecutionRequest;
  const parsed = executionRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.map(String).join('.') || '(body)';
    throw new BoxrunError('INVALID_REQUEST', `${path}: ${issue?.message ?? 'invalid'}`, {
      details: {
        path,
        issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
      },
    });
  }
  validated.add(parsed.data);
  return parsed.data;
}

function resolveLimits(
  base: LimitsConfig,
  runtimeDefaults: Partial<LimitsConfig> | undefined,
  requested: Partial<LimitsConfig>,
  max: LimitsConfig,
  field: string,
): ResourceLimits {
  const merged = { ...base, ...runtimeDefaults, ...requested };
  for (const key of Object.keys(requested) as (keyof LimitsConfig)[]) {
    const value = requested[key];
    if (value !== undefined && value > max[key]) {
      throw new BoxrunError(
        'INVALID_REQUEST',
        `${field}.${key}: ${value} exceeds the maximum of ${max[key]}`,
        {
          details: { path: `${field}.${key}` },
        },
      );
    }
  }
  return merged;
}

function supervisorLimits(limits: ResourceLimits, filesBytes: number): Record<string, number> {
  return {
    timeout_ms: limits.timeoutMs,
    cpu_ms: limits.cpuTimeMs,
    output_bytes: limits.outputBytes,
    files_bytes: filesBytes,
    file_size_bytes: limits.diskMb * 1024 * 1024,
    stack_bytes: Math.min(limits.memoryMb, 256) * 1024 * 1024,
    // Applied only where the sandbox has a kernel of its own (boxrun-sv --user: gVisor).
    nproc: limits.pids,
  };
}

/** `{file}` and `{name}` filled in; an argument that is exactly `{file}` becomes every source when given. */
function fill(
  template: string[],
  main: string,
  layout: { name?: string; sources?: string[] } = {},
): string[] {
  const name = layout.name ?? posix.basename(main).replace(/\.[^.]*$/, '');
  return template.flatMap((a) =>
    a === '{file}' && layout.sources
      ? layout.sources
      : [a.replaceAll('{file}', main).replaceAll('{name}', name)],
  );
}

export function planExecution(
  input: ExecutionRequestInput,
  registry: RuntimeRegistry,
  defaults: PlanDefaults,
  options: { testFramework?: string } = {},
): ExecutionPlan {
  const request = validateRequest(input);
  const runtime = request.runtime ? registry.get(request.runtime) : null;
  if (runtime && request.version && !runtime.version.startsWith(request.version) && request.version !== '*') {
    throw new BoxrunError(
      'UNKNOWN_RUNTIME',
      `runtime ${runtime.name} has version ${runtime.version}, not ${request.version}`,
      { details: { runtimes: registry.names() } },
    );
  }
  if (!runtime && !request.image && !request.dockerfile)
    throw new BoxrunError('INVALID_REQUEST', 'runtime: either runtime, image or dockerfile is required');

  let total = 0;
  let files: { path: string; content: Buffer; mode: number }[] = request.files.map((f, i) => {
    const content = Buffer.from(f.content, f.encoding === 'base64' ? 'base64' : 'utf8');
    if (content.length > MAX_FILE_BYTES) {
      throw new BoxrunError(
        'INVALID_REQUEST',
        `files.${i}.content: ${content.length} bytes exceeds the limit of ${MAX_FILE_BYTES} per file`,
        { details: { path: `files.${i}.content` } },
      );
    }
    total += content.length;
    return { path: f.path, content, mode: f.executable ? 0o755 : 0o644 };
  });
  if (total > MAX_TOTAL_INPUT_BYTES) {
    throw new BoxrunError(
      'INVALID_REQUEST',
      `files: ${total} bytes in all exceeds the limit of ${MAX_TOTAL_INPUT_BYTES}`,
      {
        details: { path: 'files' },
      },
    );
  }
  const stdin = Buffer.from(request.stdin, request.stdinEncoding === 'base64' ? 'base64' : 'utf8');
  if (stdin.length > MAX_STDIN_BYTES) {
    throw new BoxrunError(
      'INVALID_REQUEST',
      `stdin: ${stdin.length} bytes exceeds the limit of ${MAX_STDIN_BYTES}`,
      {
        details: { path: 'stdin' },
      },
    );
  }

  const runLimits = resolveLimits(defaults.limits, undefined, request.limits, defaults.maxLimits, 'limits');
  const env = { ...BASE_ENV, ...runtime?.env, ...request.env };
  let main = request.main ?? files[0]?.path ?? runtime?.sourceFile ?? '';
  let layout: { name?: string; sources?: string[] } = {};
  if (runtime?.sourceLayout === 'java') {
    const java = layoutJavaSources(files, main);
    files = java.files;
    main = java.main;
    layout = { name: java.mainClass, sources: java.sources };
  }
  if (runtime && !request.command && files.length === 0) {
    throw new BoxrunError('INVALID_REQUEST', 'files: at least one source file is required', {
      details: { path: 'files' },
    });
  }

  let compile: StepPlan | null = null;
  if (runtime?.compile) {
    const limits = resolveLimits(
      defaults.compileLimits,
      runtime.compileLimits,
      request.compileLimits,
      defaults.maxLimits,
      'compileLimits',
    );
    if (request.compileLimits.timeoutMs === undefined)
      limits.timeoutMs = Math.max(limits.timeoutMs, defaults.minCompileTimeoutMs ?? 0);
    const extra = [
      ...(options.testFramework ? (runtime.testFrameworks?.[options.testFramework] ?? []) : []),
      ...(request.compilerOptions ?? []),
    ];
    const argv = fill(runtime.compile, main, layout);
    compile = {
      limits,
      job: {
        files,
        argv: [...argv.slice(0, 1), ...extra, ...argv.slice(1)],
        env,
        limits: supervisorLimits(limits, COMPILE_ARTIFACT_BYTES),
        outputPatterns: ['**'],
        stdin: Buffer.alloc(0),
      },
    };
  }
  const command = request.command ?? fill(runtime?.run ?? [], main, { ...layout, sources: undefined });
  const run: StepPlan = {
    limits: runLimits,
    job: {
      files,
      argv: [...command, ...request.argv],
      env,
      ...(request.workDir ? { cwd: request.workDir } : {}),
      limits: supervisorLimits(runLimits, RUN_OUTPUT_FILES_BYTES),
      outputPatterns: request.outputPaths,
      stdin,
    },
  };
  return {
    request,
    runtime,
    image: request.image ?? runtime?.image ?? '',
    // A Dockerfile's image is only known once built; the executor fills it in (custom-image.ts).
    customImage: !!request.image || !!request.dockerfile,
    compile,
    run,
  };
}

/**
 * The run step of a prepared program for one variant (a test case's stdin, arguments or time
 * limit), starting from `files` (the input files, or the compile step's output).
 */
export function planRunVariant(
  plan: ExecutionPlan,
  files: StepJob['files'],
  variant: RunVariant = {},
): StepPlan {
  const limits = variant.timeoutMs ? { ...plan.run.limits, timeoutMs: variant.timeoutMs } : plan.run.limits;
  const job: StepJob = {
    ...plan.run.job,
    files,
    ...(variant.stdin !== undefined ? { stdin: Buffer.from(variant.stdin) } : {}),
    ...(variant.argv
      ? {
          argv: [
            ...plan.run.job.argv.slice(0, plan.run.job.argv.length - plan.request.argv.length),
            ...variant.argv,
          ],
        }
      : {}),
    limits: { ...plan.run.job.limits, timeout_ms: limits.timeoutMs },
  };
  return { limits, job };
}

/** What a result of this plan says ran where. */
export function resultOrigin(plan: ExecutionPlan, id: string, isolationLevel: IsolationLevel): ResultOrigin {
  return { id, runtime: plan.runtime?.name ?? null, image: plan.image, isolationLevel };
}
