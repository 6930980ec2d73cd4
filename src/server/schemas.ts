import { z } from 'zod';
import { checkExecutionRequest, executionRequestObject } from '../core/request.js';
import { EXECUTION_STATES } from '../store/execution-store.js';

/** A request to the service: an ExecutionRequest plus the fields only the service understands. */
export const serviceRequestSchema = executionRequestObject
  .extend({
    /** POSTed the result when the execution is done (signed; see docs/service.md). */
    callbackUrl: z.string().min(1).max(2048).optional(),
  })
  .superRefine(checkExecutionRequest);

export type ServiceRequest = z.output<typeof serviceRequestSchema>;

export const waitQuerySchema = z
  .object({
    /** true (default): answer with the result; false: 202 with the id at once. */
    wait: z.enum(['true', 'false', '1', '0']).optional(),
  })
  .strict();

export const idParamsSchema = z.object({ id: z.string().min(1).max(64) });

export const listQuerySchema = z
  .object({
    status: z.enum(EXECUTION_STATES).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export const batchBodySchema = z
  .object({
    requests: z.array(serviceRequestSchema).min(1),
    /** Applies to every request of the batch that has no callbackUrl of its own. */
    callbackUrl: z.string().min(1).max(2048).optional(),
  })
  .strict();

export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    path: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  /** With ?wait=true, when the accepted execution could not run: the execution, with its id. */
  execution: z.unknown().optional(),
});

export const executionViewSchema = z.object({
  id: z.string(),
  status: z.enum(EXECUTION_STATES),
  verdict: z
    .string()
    .nullable()
    .describe('the result status (ok, runtime_error, …), canceled, error, or null until done'),
  runtime: z.string().nullable(),
  caller: z.string(),
  batchId: z.string().nullable(),
  attempts: z.number(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  queueWaitMs: z.number().nullable(),
  result: z.any().describe('the ExecutionResult when it ran, else null'),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  webhook: z
    .object({
      state: z.enum(['pending', 'delivered', 'failed']),
      attempts: z.number(),
      lastStatus: z.number().nullable(),
      lastError: z.string().nullable(),
    })
    .nullable()
    .optional(),
});

export const listResponseSchema = z.object({
  items: z.array(executionViewSchema.omit({ result: true })),
  nextCursor: z.string().nullable(),
});

export const batchResponseSchema = z.object({
  id: z.string(),
  caller: z.string(),
  createdAt: z.string(),
  size: z.number(),
  counts: z.record(z.string(), z.number()),
  executions: z.array(executionViewSchema),
});

export const batchCreatedSchema = z.object({
  id: z.string(),
  executions: z.array(z.object({ id: z.string(), status: z.enum(EXECUTION_STATES) })),
});

export const runtimeSchema = z.object({
  name: z.string(),
  language: z.string(),
  version: z.string(),
  aliases: z.array(z.string()),
  extensions: z.array(z.string()),
  /** What a single source file is called when the request does not name it (`Main.java`). */
  sourceFile: z.string(),
  compiled: z.boolean(),
});

export const readinessSchema = z.object({
  ready: z.boolean(),
  engine: z.record(z.string(), z.unknown()),
  images: z.array(z.record(z.string(), z.unknown())),
  queue: z.object({
    queued: z.number(),
    running: z.number(),
    maxQueued: z.number(),
    maxConcurrent: z.number(),
  }),
  store: z.object({ writable: z.boolean(), error: z.string().optional() }),
  draining: z.boolean(),
  problems: z.array(z.string()),
  warnings: z.array(z.string()),
});

/** Piston's request: loosely typed on purpose; its own checks and messages live in the route. */
export const pistonExecuteSchema = z.looseObject({
  language: z.unknown().optional(),
  version: z.unknown().optional(),
  files: z.unknown().optional(),
  stdin: z.unknown().optional(),
  args: z.unknown().optional(),
  compile_timeout: z.unknown().optional(),
  run_timeout: z.unknown().optional(),
  compile_cpu_time: z.unknown().optional(),
  run_cpu_time: z.unknown().optional(),
  compile_memory_limit: z.unknown().optional(),
  run_memory_limit: z.unknown().optional(),
});

const pistonStageSchema = z.object({
  stdout: z.string(),
  stderr: z.string(),
  output: z.string(),
  code: z.number().nullable(),
  signal: z.string().nullable(),
  message: z.string().nullable(),
  status: z.string().nullable(),
  memory: z.number(),
  cpu_time: z.number(),
  wall_time: z.number(),
});

export const pistonResultSchema = z.object({
  language: z.string(),
  version: z.string(),
  run: pistonStageSchema,
  compile: pistonStageSchema.optional(),
});

export const pistonMessageSchema = z.object({ message: z.string() });
