import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BoxrunError } from '../../core/errors.js';
import type { ExecutionRequestInput } from '../../core/request.js';
import type { StepResult } from '../../core/result.js';
import { signalNumber } from '../../core/verdict.js';
import type { RuntimeDefinition } from '../../runtimes/definitions.js';
import type { PistonRuntime, PistonRuntimes } from '../compat/piston-runtimes.js';
import { sendError } from '../http-errors.js';
import type { RouteContext } from '../route-context.js';
import {
  pistonExecuteSchema,
  pistonMessageSchema,
  pistonResultSchema,
  serviceRequestSchema,
} from '../schemas.js';
import { toSubmitItem } from './submission.js';

/**
 * Piston's v2 API (engineer-man/piston api/src/api/v2.js) over the same queue, store and executor,
 * so Piston clients work unchanged: same request fields, same response shape, errors as `{message}`.
 */

const MiB = 1024 * 1024;

function fail(message: string): never {
  throw new BoxrunError('INVALID_REQUEST', message);
}

/** Piston's body → an ExecutionRequest; the checks and messages follow Piston's `get_job`. */
export function pistonToRequest(
  body: Record<string, unknown>,
  ctx: RouteContext,
  pistonRuntimes: PistonRuntimes,
): { request: ExecutionRequestInput; runtime: RuntimeDefinition; piston: PistonRuntime } {
  const { language, version, files, stdin, args } = body;
  if (!language || typeof language !== 'string') fail('language is required as a string');
  if (!version || typeof version !== 'string') fail('version is required as a string');
  if (!files || !Array.isArray(files)) fail('files is required as an array');
  for (const [i, file] of files.entries()) {
    if (typeof file?.content !== 'string') fail(`files[${i}].content is required as a string`);
  }
  const piston = pistonRuntimes.find(language, version, ctx.registry);
  const runtime = piston && ctx.registry.find(piston.boxrun);
  if (!piston || !runtime) {
    throw new BoxrunError('UNKNOWN_RUNTIME', `${language}-${version} runtime is unknown`, {
      details: { runtimes: ctx.registry.names() },
    });
  }
  const encodings = files.map((f: { encoding?: unknown }) =>
    f.encoding === 'base64' || f.encoding === 'hex' ? f.encoding : 'utf8',
  );
  const main = encodings.indexOf('utf8');
  if (main < 0) fail('files must include at least one utf8 encoded file');

  const { maxLimits } = ctx.config;
  const limits: Record<'limits' | 'compileLimits', Record<string, number>> = {
    limits: {},
    compileLimits: {},
  };
  for (const constraint of ['memory_limit', 'timeout', 'cpu_time'] as const) {
    for (const type of ['compile', 'run'] as const) {
      const name = `${type}_${constraint}`;
      const value = body[name];
      if (value === undefined || value === null || value === 0) continue;
      if (typeof value !== 'number' || !Number.isFinite(value))
        fail(`If specified, ${name} must be a number`);
      // Piston's memory limits default to -1 ("none"; piston-client sends it): the configured
      // default applies. Its time limits are configured, so a negative one is refused as there.
      if (value < 0) {
        if (constraint === 'memory_limit') continue;
        fail(`${name} must be non-negative`);
      }
      const target = limits[type === 'run' ? 'limits' : 'compileLimits'];
      if (constraint === 'memory_limit') {
        if (value > maxLimits.memoryMb * MiB)
          fail(`${name} cannot exceed the configured limit of ${maxLimits.memoryMb * MiB}`);
        target.memoryMb = Math.max(8, Math.ceil(value / MiB));
      } else if (constraint === 'timeout') {
        if (value > maxLimits.timeoutMs)
          fail(`${name} cannot exceed the configured limit of ${maxLimits.timeoutMs}`);
        target.timeoutMs = Math.max(1, Math.round(value));
      } else {
        if (value > maxLimits.cpuTimeMs)
          fail(`${name} cannot exceed the configured limit of ${maxLimits.cpuTimeMs}`);
        target.cpuTimeMs = Math.max(1, Math.round(value));
      }
    }
  }

  const named = files.map((f: { name?: unknown; content: string }, i: number) => {
    // Piston names unnamed files file<i>.code; compilers need the extension, so the main file
    // gets the runtime's usual source name instead.
    const name =
      typeof f.name === 'string' && f.name ? f.name : i === main ? runtime.sourceFile : `file${i}.code`;
    const encoding = encodings[i];
    return {
      path: name,
      content: encoding === 'hex' ? Buffer.from(f.content, 'hex').toString('base64') : f.content,
      encoding: encoding === 'utf8' ? ('utf8' as const) : ('base64' as const),
    };
  });
  const request: ExecutionRequestInput = {
    runtime: runtime.name,
    files: named,
    main: named[main]!.path,
    argv: Array.isArray(args) ? args.map(String) : [],
    stdin: typeof stdin === 'string' ? stdin : '',
    limits: limits.limits,
    compileLimits: limits.compileLimits,
  };
  return { request, runtime, piston };
}

const decode = (text: string, encoding: string) =>
  encoding === 'base64' ? Buffer.from(text, 'base64').toString('utf8') : text;

/** Piston's status codes are isolate's: RE, SG, TO, XX, plus its own OL and EL. */
function pistonStatus(step: StepResult): string | null {
  switch (step.status) {
    case 'ok':
      return null;
    case 'time_limit':
      return 'TO';
    case 'output_limit':
      return step.message?.startsWith('stderr') ? 'EL' : 'OL';
    case 'internal_error':
      return 'XX';
    default:
      return step.signal ? 'SG' : step.exitCode ? 'RE' : null;
  }
}

/** isolate's messages, as Piston passes them on. */
function pistonMessage(step: StepResult, status: string | null): string | null {
  switch (status) {
    case 'TO':
      return 'Time limit exceeded';
    case 'OL':
      return 'stdout length exceeded';
    case 'EL':
      return 'stderr length exceeded';
    case 'SG':
      return `Caught fatal signal ${signalNumber(step.signal)}`;
    case 'RE':
      return `Exited with error status ${step.exitCode}`;
    case 'XX':
      return step.message ?? 'internal error';
    default:
      return null;
  }
}

export function pistonStage(step: StepResult, output?: string) {
  const stdout = decode(step.stdout, step.stdoutEncoding);
  const stderr = decode(step.stderr, step.stderrEncoding);
  const status = pistonStatus(step);
  return {
    stdout,
    stderr,
    output: output ?? stdout + stderr,
    code: step.exitCode,
    // Piston reports the SIGKILL it sends for its own limits.
    signal: status === 'TO' || status === 'OL' || status === 'EL' ? 'SIGKILL' : step.signal,
    message: pistonMessage(step, status),
    status,
    memory: step.peakMemoryBytes,
    cpu_time: step.cpuTimeMs,
    wall_time: step.durationMs,
  };
}

const pistonError = (e: BoxrunError) => ({ message: e.message });

export async function registerPistonRoutes(
  instance: FastifyInstance,
  ctx: RouteContext,
  pistonRuntimes: PistonRuntimes,
): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { service } = ctx;

  // Piston clients (piston-client among them) often send JSON without a JSON content type.
  const parseJson = (
    _req: unknown,
    body: string | Buffer,
    done: (err: Error | null, value?: unknown) => void,
  ) => {
    try {
      done(null, body.length === 0 ? {} : JSON.parse(body.toString()));
    } catch {
      const error = new BoxrunError('INVALID_REQUEST', 'body is not valid JSON');
      done(error);
    }
  };
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, parseJson);
  app.addContentTypeParser('*', { parseAs: 'string' }, parseJson);
  app.setErrorHandler((error, request, reply) => sendError(request, reply, error, pistonError));

  app.post(
    '/execute',
    {
      schema: {
        summary: 'Piston-compatible execute',
        tags: ['piston'],
        body: pistonExecuteSchema,
        response: { 200: pistonResultSchema, 400: pistonMessageSchema, 503: pistonMessageSchema },
      },
    },
    async (request) => {
      const { request: input, piston } = pistonToRequest(request.body, ctx, pistonRuntimes);
      const parsed = serviceRequestSchema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        fail(`${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'invalid'}`);
      }
      const item = await toSubmitItem(ctx, parsed.data);
      const [record] = await service.submit(request.caller, [item]);
      const { record: done, output } = await service.waitFor(record!.id);
      if (!done.result) {
        const code = (done.error?.code ?? 'INTERNAL') as BoxrunError['code'];
        throw new BoxrunError(code, done.error?.message ?? 'execution failed');
      }
      const result = done.result;
      const compile = result.compile ? pistonStage(result.compile) : undefined;
      const run =
        result.status === 'compile_error' && compile ? compile : pistonStage(result, output.toString('utf8'));
      return {
        language: piston.language,
        version: piston.version,
        run,
        ...(compile ? { compile } : {}),
      };
    },
  );

  app.get(
    '/runtimes',
    {
      schema: {
        summary: 'Piston-compatible runtime list',
        tags: ['piston'],
        response: {
          200: z.array(
            z.object({
              language: z.string(),
              version: z.string(),
              aliases: z.array(z.string()),
              runtime: z.string().optional(),
            }),
          ),
        },
      },
    },
    async () =>
      pistonRuntimes.all.map((r) => ({
        language: r.language,
        version: r.version,
        aliases: r.aliases,
        ...(r.runtime ? { runtime: r.runtime } : {}),
      })),
  );

  app.get(
    '/packages',
    {
      schema: {
        summary: 'Piston-compatible package list (a runtime is installed when its image is present)',
        tags: ['piston'],
        response: {
          200: z.array(
            z.object({ language: z.string(), language_version: z.string(), installed: z.boolean() }),
          ),
        },
      },
    },
    async () => {
      const health = await service.engineHealth();
      const present = new Map(health.images.map((i) => [i.runtime, i.present]));
      return pistonRuntimes.packages((name) => present.get(name) ?? false);
    },
  );
}
