import { z } from 'zod';
import { ISOLATION_TIERS } from './isolation.js';
import { judgeRequestFields } from './judge-request.js';

export const MAX_FILES = 256;
export const MAX_FILE_BYTES = 16 * 1024 * 1024;
export const MAX_TOTAL_INPUT_BYTES = 32 * 1024 * 1024;
export const MAX_STDIN_BYTES = 16 * 1024 * 1024;
export const MAX_ARG_BYTES = 128 * 1024;
export const MAX_ENV_BYTES = 128 * 1024;
/** The supervisor holds at most 4096 argv and env entries each; base and runtime env need some. */
export const MAX_ENV_VARS = 1024;

/** A path inside the sandbox's work dir: relative, no `..`, no empty or `.` parts, no NUL. */
export const relativePathSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => !p.startsWith('/'), 'must be relative to the work dir')
  .refine((p) => p.split('/').every((part) => part !== '' && part !== '.' && part !== '..'), {
    message: "must not contain '..', '.' or empty parts",
  })
  // Bytes, not characters: past NAME_MAX the sandbox could only fail after a container started.
  .refine((p) => Buffer.byteLength(p) <= 1024, 'must be at most 1024 bytes')
  .refine(
    (p) => p.split('/').every((part) => Buffer.byteLength(part) <= 255),
    'each path component must be at most 255 bytes',
  );

export const fileSchema = z.object({
  path: relativePathSchema,
  content: z.string(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
  /** Mark the file executable (mode 0755 instead of 0644). */
  executable: z.boolean().optional(),
});

export const limitsSchema = z
  .object({
    /** Wall-clock limit for the program, from its start. */
    timeoutMs: z.number().int().min(1).max(3_600_000),
    /** CPU time of the whole process tree (user + system). */
    cpuTimeMs: z.number().int().min(1).max(3_600_000),
    memoryMb: z.number().int().min(8).max(65_536),
    cpus: z.number().min(0.05).max(64),
    pids: z.number().int().min(4).max(32_768),
    /** Cap per stream (stdout and stderr each). */
    outputBytes: z
      .number()
      .int()
      .min(1)
      .max(256 * 1024 * 1024),
    /** Size of the work dir and of /tmp (each; both count against memory). */
    diskMb: z.number().int().min(1).max(65_536),
  })
  .partial()
  .strict();

/**
 * none: no interfaces but loopback; localhost: the same (loopback servers inside the sandbox work);
 * allowlist: only `allowHosts` through an egress proxy; full: the engine's bridge (see
 * docs/images-and-networks.md).
 */
export const NETWORK_POLICIES = ['none', 'localhost', 'allowlist', 'full'] as const;
export const networkPolicySchema = z.enum(NETWORK_POLICIES);
export type NetworkPolicy = z.output<typeof networkPolicySchema>;

/** `host:port` (a name, `*.suffix`, an IPv4 address or `[IPv6]`), as the egress proxy matches it. */
export const allowHostSchema = z
  .string()
  .max(260)
  .regex(
    /^((\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$/,
    'must be host:port',
  )
  .refine((h) => Number(h.slice(h.lastIndexOf(':') + 1)) <= 65_535, 'port must be at most 65535');

export const MAX_CONTEXT_FILES = 512;
export const MAX_DOCKERFILE_BYTES = 256 * 1024;

export const workspaceSchema = z
  .object({
    /** Absolute host path; resolved (symlinks, `..`) and checked against the allowed roots. */
    hostPath: z.string().min(1).max(4096),
    mode: z.enum(['ro', 'rw']).default('ro'),
  })
  .strict();

const envKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');

/** The plain object shape; extend it (e.g. with service fields), then apply `checkExecutionRequest`. */
export const executionRequestObject = z
  .object({
    runtime: z.string().min(1).max(64).optional(),
    /** A custom image to run in; the supervisor is mounted into it. Needs `command`. */
    image: z.string().min(1).max(256).optional(),
    /** Version of the runtime; only the installed one exists today, so it is checked, not chosen. */
    version: z.string().max(64).optional(),
    files: z.array(fileSchema).max(MAX_FILES).default([]),
    /** The file the runtime compiles/runs; defaults to the first file. */
    main: relativePathSchema.optional(),
    /** Replaces the runtime's run command (argv form). Required with `image`. */
    command: z.array(z.string().max(MAX_ARG_BYTES)).min(1).max(1024).optional(),
    argv: z.array(z.string().max(MAX_ARG_BYTES)).max(1024).default([]),
    stdin: z
      .string()
      .max(Math.ceil((MAX_STDIN_BYTES * 4) / 3) + 4)
      .default(''),
    stdinEncoding: z.enum(['utf8', 'base64']).default('utf8'),
    env: z
      .record(envKey, z.string().max(MAX_ENV_BYTES))
      .refine((env) => Object.keys(env).length <= MAX_ENV_VARS, `at most ${MAX_ENV_VARS} variables`)
      .default({}),
    /** Directory the program starts in, relative to the work dir. */
    workDir: relativePathSchema.optional(),
    /** Files to return: exact relative paths, `*` globs, or `dir/**`. */
    outputPaths: z.array(z.string().min(1).max(1024)).max(256).default([]),
    limits: limitsSchema.default({}),
    compileLimits: limitsSchema.default({}),
    network: networkPolicySchema.default('none'),
    /** With network 'allowlist': the only host:port pairs the program (and a build) may reach. */
    allowHosts: z.array(allowHostSchema).max(64).default([]),
    /** Build this Dockerfile (cached by content) and run in the image; needs `command` or `runtime`. */
    dockerfile: z.string().min(1).max(MAX_DOCKERFILE_BYTES).optional(),
    /** Build context files for `dockerfile` (same shape as `files`). */
    context: z.array(fileSchema).max(MAX_CONTEXT_FILES).default([]),
    /** A host directory mounted at /workspace (build tasks); only under config workspaces.allowedRoots. */
    workspace: workspaceSchema.optional(),
    /** A named cache kept between executions (per project), mounted read-write at /cache. */
    cacheVolume: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be a lowercase name of letters, digits, _ . -')
      .optional(),
    /** Flags added to the runtime's compile command, after the compiler's name. */
    compilerOptions: z.array(z.string().max(MAX_ARG_BYTES)).max(256).optional(),
    /**
     * The caller's own key/value pairs, kept with the execution and given back unchanged (the
     * Judge0 adapter keeps the submission's own fields here). The sandbox never sees them.
     */
    labels: z
      .record(z.string().min(1).max(128), z.string().max(4096))
      .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels')
      .optional(),
    /**
     * `container` or `vm` (gVisor). Absent: the configured default (or the caller's floor). A tier
     * that is not available is an ISOLATION_UNAVAILABLE error, never a silent downgrade.
     */
    isolation: z.enum(ISOLATION_TIERS).optional(),
    /** Judging: `tests`, `compare`, `testFramework`, `concurrency` (docs/judging.md). */
    ...judgeRequestFields,
  })
  .strict();

/** Cross-field rules of a request; shared by every schema built on `executionRequestObject`. */
export function checkExecutionRequest(
  req: z.output<typeof executionRequestObject>,
  ctx: z.RefinementCtx,
): void {
  {
    if (!req.runtime && !req.image && !req.dockerfile) {
      ctx.addIssue({
        code: 'custom',
        message: 'either runtime, image or dockerfile is required',
        path: ['runtime'],
      });
    }
    if (req.image && !req.command) {
      ctx.addIssue({ code: 'custom', message: 'command is required when image is given', path: ['command'] });
    }
    if (req.dockerfile && req.image) {
      ctx.addIssue({ code: 'custom', message: 'give either image or dockerfile, not both', path: ['image'] });
    }
    if (req.dockerfile && !req.command && !req.runtime) {
      ctx.addIssue({
        code: 'custom',
        message: 'command (or runtime) is required when dockerfile is given',
        path: ['command'],
      });
    }
    if (req.context.length > 0 && !req.dockerfile) {
      ctx.addIssue({ code: 'custom', message: 'context needs a dockerfile', path: ['context'] });
    }
    if (req.network === 'allowlist' && req.allowHosts.length === 0) {
      ctx.addIssue({ code: 'custom', message: "network 'allowlist' needs allowHosts", path: ['allowHosts'] });
    }
    if (req.network !== 'allowlist' && req.allowHosts.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: "allowHosts needs network 'allowlist'",
        path: ['allowHosts'],
      });
    }
    const seenContext = new Set<string>();
    req.context.forEach((f, i) => {
      if (seenContext.has(f.path))
        ctx.addIssue({ code: 'custom', message: 'duplicate path', path: ['context', i, 'path'] });
      seenContext.add(f.path);
    });
    if (req.main && !req.files.some((f) => f.path === req.main)) {
      ctx.addIssue({ code: 'custom', message: 'main must name one of the files', path: ['main'] });
    }
    const seen = new Set<string>();
    req.files.forEach((f, i) => {
      if (seen.has(f.path))
        ctx.addIssue({ code: 'custom', message: 'duplicate path', path: ['files', i, 'path'] });
      seen.add(f.path);
    });
    // 'a' and 'a/b' cannot both be written; the sandbox would fail it only after starting.
    req.files.forEach((f, i) => {
      const parts = f.path.split('/');
      for (let n = 1; n < parts.length; n++) {
        if (!seen.has(parts.slice(0, n).join('/'))) continue;
        ctx.addIssue({
          code: 'custom',
          message: `${parts.slice(0, n).join('/')} is a file, so it cannot be a directory too`,
          path: ['files', i, 'path'],
        });
        break;
      }
    });
    for (const [i, p] of req.outputPaths.entries()) {
      if (p.startsWith('/') || p.includes('\0') || p.split('/').some((part) => part === '..')) {
        ctx.addIssue({ code: 'custom', message: "must be relative, without '..'", path: ['outputPaths', i] });
      }
    }
  }
}

export const executionRequestSchema = executionRequestObject.superRefine(checkExecutionRequest);

export type ExecutionRequestInput = z.input<typeof executionRequestSchema>;
export type ExecutionRequest = z.output<typeof executionRequestSchema>;
export type ResourceLimits = Required<z.output<typeof limitsSchema>>;
export type InputFile = z.output<typeof fileSchema>;
