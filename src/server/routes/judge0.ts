import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isBoxrunError } from '../../core/errors.js';
import type { SubmitItem } from '../../executions/execution-service.js';
import { planExecution } from '../../runtimes/plan.js';
import type { ExecutionRecord } from '../../store/execution-store.js';
import {
  JUDGE0_LIMITS,
  JUDGE0_STATUSES,
  type Judge0Field,
  type Judge0Language,
  type Judge0Submission,
  languageDetail,
  MAX_BATCH_SIZE,
  mapSubmission,
  parseFields,
  redirectStderr,
  submissionView,
} from '../compat/judge0.js';
import { toBoxrunError } from '../http-errors.js';
import type { RouteContext } from '../route-context.js';
import { serviceRequestSchema } from '../schemas.js';
import { toSubmitItem } from './submission.js';

/**
 * Judge0 CE's API (docs/api in judge0/judge0) over the same service, queue, store and executor as
 * boxrun's own API: a submission is an execution whose token is the execution id.
 */

const submissionQuery = z.looseObject({
  base64_encoded: z.string().optional(),
  wait: z.string().optional(),
  fields: z.string().optional(),
});
const batchQuery = z.looseObject({
  base64_encoded: z.string().optional(),
  fields: z.string().optional(),
  tokens: z.string().optional(),
});
const submissionBody = z.looseObject({
  source_code: z.string().nullish(),
  language_id: z.union([z.number(), z.string()]).nullish(),
  stdin: z.string().nullish(),
  expected_output: z.string().nullish(),
});
const tokenParams = z.object({ token: z.string().min(1).max(64) });

/** Judge0 errors are `{error: message}`; an unauthenticated request gets an empty 401 (Rails' `head`). */
class Judge0Reply extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super('judge0 reply');
  }
}

function sendJudge0Error(request: FastifyRequest, reply: FastifyReply, raw: unknown) {
  if (raw instanceof Judge0Reply) return reply.code(raw.status).send(raw.body);
  const { error, status } = toBoxrunError(raw);
  if (status === 401) return reply.code(401).send('');
  if (status >= 500 && error.code === 'INTERNAL') request.log.error({ err: raw }, 'judge0 request failed');
  return reply
    .code(status === 429 || error.code === 'QUEUE_FULL' ? 503 : status)
    .send({ error: error.message });
}

export async function registerJudge0Routes(
  instance: FastifyInstance,
  ctx: RouteContext,
  languages: Judge0Language[],
): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { service } = ctx;
  app.setErrorHandler((error, request, reply) => sendJudge0Error(request, reply, error));

  /** Text fields are base64 only with base64_encoded=true (Judge0's documented default). */
  const base64Of = (q: { base64_encoded?: string | undefined }) => q.base64_encoded === 'true';
  const fieldsOf = (raw: unknown): Judge0Field[] => {
    const parsed = parseFields(raw);
    if ('invalid' in parsed)
      throw new Judge0Reply(400, { error: `invalid fields: [${parsed.invalid.join(', ')}]` });
    return parsed.fields;
  };

  /** One submission → a submit item, or Judge0's 422 errors object. */
  const prepare = async (
    body: Judge0Submission,
    base64: boolean,
  ): Promise<{ item: SubmitItem } | { errors: Record<string, string[]> }> => {
    const mapped = mapSubmission(body, languages, base64);
    if (!mapped.ok) return { errors: mapped.errors };
    const { request, callbackUrl } = mapped.value;
    try {
      if (body.redirect_stderr_to_stdout === true || body.redirect_stderr_to_stdout === 'true') {
        const plan = planExecution(request, ctx.registry, ctx.config);
        const argv = plan.run.job.argv;
        request.command = redirectStderr(argv.slice(0, argv.length - plan.request.argv.length));
      }
      const parsed = serviceRequestSchema.safeParse({ ...request, ...(callbackUrl ? { callbackUrl } : {}) });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return { errors: { [issue?.path.join('.') || 'submission']: [issue?.message ?? 'is invalid'] } };
      }
      return { item: await toSubmitItem(ctx, parsed.data) };
    } catch (error) {
      if (isBoxrunError(error) && (error.code === 'INVALID_REQUEST' || error.code === 'UNKNOWN_RUNTIME')) {
        const path = typeof error.details?.path === 'string' ? error.details.path : 'submission';
        return { errors: { [path]: [error.message] } };
      }
      throw error;
    }
  };

  const view = (record: ExecutionRecord, fields: Judge0Field[], base64: boolean) => {
    const { body, unconvertible } = submissionView(record, fields, base64, languages);
    return { body, unconvertible };
  };
  const conversionError = {
    error:
      'some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter',
  };

  app.post(
    '/submissions',
    {
      schema: {
        summary: 'Judge0: create a submission (?base64_encoded, ?wait, ?fields)',
        tags: ['judge0'],
        querystring: submissionQuery,
        body: submissionBody,
      },
    },
    async (request, reply) => {
      const base64 = base64Of(request.query);
      const fields = fieldsOf(request.query.fields);
      const prepared = await prepare(request.body as Judge0Submission, base64);
      if ('errors' in prepared) return reply.code(422).send(prepared.errors);
      const [record] = await service.submit(request.caller, [prepared.item]);
      if (request.query.wait !== 'true') return reply.code(201).send({ token: record!.id });
      const { record: done } = await service.waitFor(record!.id);
      const { body, unconvertible } = view(done, fields, base64);
      if (unconvertible) return reply.code(201).send({ ...conversionError, token: done.id });
      return reply.code(201).send(body);
    },
  );

  app.post(
    '/submissions/batch',
    {
      schema: {
        summary: 'Judge0: create up to 20 submissions (no wait)',
        tags: ['judge0'],
        querystring: batchQuery,
        body: z.looseObject({ submissions: z.array(z.record(z.string(), z.unknown())).optional() }),
      },
    },
    async (request, reply) => {
      const base64 = base64Of(request.query);
      const list = request.body.submissions ?? [];
      if (list.length > MAX_BATCH_SIZE)
        throw new Judge0Reply(400, {
          error: `number of submissions in a batch should be less than or equal to ${MAX_BATCH_SIZE}`,
        });
      if (list.length === 0)
        throw new Judge0Reply(400, { error: 'there should be at least one submission in a batch' });
      const prepared = await Promise.all(list.map((s) => prepare(s as Judge0Submission, base64)));
      const items = prepared.flatMap((p) => ('item' in p ? [p.item] : []));
      const records = items.length ? await service.submit(request.caller, items) : [];
      let next = 0;
      const response = prepared.map((p) => ('item' in p ? { token: records[next++]!.id } : p.errors));
      return reply.code(items.length ? 201 : 422).send(response);
    },
  );

  app.get(
    '/submissions/batch',
    {
      schema: {
        summary: 'Judge0: get submissions by ?tokens=a,b',
        tags: ['judge0'],
        querystring: batchQuery,
      },
    },
    async (request) => {
      const base64 = base64Of(request.query);
      const fields = fieldsOf(request.query.fields);
      const tokens = String(request.headers.tokens ?? request.query.tokens ?? '')
        .trim()
        .split(',')
        .filter(Boolean);
      if (tokens.length > MAX_BATCH_SIZE)
        throw new Judge0Reply(400, {
          error: `number of submissions in a batch should be less than or equal to ${MAX_BATCH_SIZE}`,
        });
      if (tokens.length === 0)
        throw new Judge0Reply(400, { error: 'there should be at least one submission in a batch' });
      const records = await Promise.all(tokens.map((token) => service.get(token)));
      const submissions = records.map((record) => {
        if (!record || !owned(request, record)) return null;
        const { body, unconvertible } = view(record, fields, base64);
        if (unconvertible)
          throw new Judge0Reply(400, {
            error:
              'some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter',
          });
        return body;
      });
      return { submissions };
    },
  );

  /** Judge0 answers 404 `{error: "Not Found"}` for unknown tokens; another key's execution is unknown too. */
  const owned = (request: FastifyRequest, record: ExecutionRecord) => {
    try {
      ctx.auth.assertOwner(request.caller, record.caller, 'submission');
      return true;
    } catch {
      return false;
    }
  };
  const find = async (request: FastifyRequest, token: string) => {
    const record = await service.get(token);
    if (!record || !owned(request, record)) throw new Judge0Reply(404, { error: 'Not Found' });
    return record;
  };

  app.get(
    '/submissions/:token',
    {
      schema: {
        summary: 'Judge0: get a submission (?base64_encoded, ?fields)',
        tags: ['judge0'],
        params: tokenParams,
        querystring: submissionQuery,
      },
    },
    async (request, reply) => {
      const fields = fieldsOf(request.query.fields);
      const record = await find(request, request.params.token);
      const { body, unconvertible } = view(record, fields, base64Of(request.query));
      if (unconvertible) return reply.code(400).send(conversionError);
      return body;
    },
  );

  app.delete(
    '/submissions/:token',
    {
      schema: {
        summary: "Judge0: delete a submission (off, as in Judge0's default ENABLE_SUBMISSION_DELETE=false)",
        tags: ['judge0'],
        params: tokenParams,
      },
    },
    async () => {
      throw new Judge0Reply(400, { error: 'delete not allowed' });
    },
  );

  app.get('/statuses', { schema: { summary: 'Judge0: statuses', tags: ['judge0'] } }, async () =>
    JUDGE0_STATUSES.map((s) => ({ id: s.id, description: s.description })),
  );
  app.get('/languages', { schema: { summary: 'Judge0: languages', tags: ['judge0'] } }, async () =>
    languages.map((l) => ({ id: l.id, name: l.name })),
  );
  app.get(
    '/languages/:id',
    { schema: { summary: 'Judge0: a language', tags: ['judge0'], params: z.object({ id: z.string() }) } },
    async (request) => {
      const lang = languages.find((l) => String(l.id) === request.params.id);
      if (!lang) throw new Judge0Reply(404, { error: 'Not Found' });
      return languageDetail(lang);
    },
  );
  app.get('/about', { schema: { summary: 'Judge0: about', tags: ['judge0'] } }, async () => ({
    version: '1.13.1',
    homepage: 'https://github.com/boxrun/boxrun',
    source_code: 'https://github.com/boxrun/boxrun',
    maintainer: 'boxrun (Judge0 CE API compatibility layer)',
  }));
  app.get('/config_info', { schema: { summary: 'Judge0: configuration', tags: ['judge0'] } }, async () => {
    const d = (name: keyof typeof JUDGE0_LIMITS) => JUDGE0_LIMITS[name];
    return {
      maintenance_mode: false,
      enable_wait_result: true,
      enable_compiler_options: true,
      allowed_languages_for_compile_options: [],
      enable_command_line_arguments: true,
      enable_submission_delete: false,
      enable_callbacks: true,
      callbacks_max_tries: ctx.config.server.webhookMaxAttempts,
      callbacks_timeout: ctx.config.server.webhookTimeoutMs / 1000,
      enable_additional_files: true,
      max_queue_size: ctx.config.server.maxQueued,
      cpu_time_limit: d('cpu_time_limit').default,
      max_cpu_time_limit: d('cpu_time_limit').max,
      cpu_extra_time: d('cpu_extra_time').default,
      max_cpu_extra_time: d('cpu_extra_time').max,
      wall_time_limit: d('wall_time_limit').default,
      max_wall_time_limit: d('wall_time_limit').max,
      memory_limit: d('memory_limit').default,
      max_memory_limit: d('memory_limit').max,
      stack_limit: d('stack_limit').default,
      max_stack_limit: d('stack_limit').max,
      max_processes_and_or_threads: d('max_processes_and_or_threads').default,
      max_max_processes_and_or_threads: d('max_processes_and_or_threads').max,
      enable_per_process_and_thread_time_limit: false,
      allow_enable_per_process_and_thread_time_limit: false,
      enable_per_process_and_thread_memory_limit: false,
      allow_enable_per_process_and_thread_memory_limit: false,
      max_file_size: d('max_file_size').default,
      max_max_file_size: d('max_file_size').max,
      number_of_runs: d('number_of_runs').default,
      max_number_of_runs: d('number_of_runs').max,
      redirect_stderr_to_stdout: false,
      max_extract_size: 10_240,
      enable_batched_submissions: true,
      max_submission_batch_size: MAX_BATCH_SIZE,
      submission_cache_duration: 0,
      use_docs_as_homepage: false,
      allow_enable_network: ctx.config.network.allowedPolicies.includes('full'),
      enable_network: false,
    };
  });
  app.get(
    '/workers',
    { schema: { summary: 'Judge0: workers (the one queue)', tags: ['judge0'] } },
    async () => {
      const { queued, running } = service.queueDepth();
      const count = ctx.config.server.maxConcurrent;
      return [
        {
          queue: 'boxrun',
          size: queued,
          available: count,
          idle: Math.max(0, count - running),
          working: running,
          paused: 0,
          failed: 0,
        },
      ];
    },
  );
  // Fastify would otherwise answer unknown /judge0 paths in boxrun's error shape.
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'Not Found' }));
}
