// The client's types come from the service's own schemas and core types (type-only imports: none
// of it is bundled), so a field added to the API shows up here without being written twice.
import type { z } from 'zod';
import type { ExecutionResult, StepResult } from '../core/result.js';
import type { CommandBody, CreateSessionBody } from '../server/routes/sessions.js';
import type {
  batchCreatedSchema,
  batchResponseSchema,
  executionViewSchema,
  listQuerySchema,
  listResponseSchema,
  readinessSchema,
  runtimeSchema,
  serviceRequestSchema,
} from '../server/schemas.js';
import type { SessionInfo as ServerSessionInfo } from '../sessions/session.js';

export type { TestCaseResult, Verdict } from '../core/test-case-result.js';
export type { ExecutionResult, StepResult };

/** What POST /v1/executions accepts: an ExecutionRequest plus `callbackUrl`. */
export type ExecutionRequest = z.input<typeof serviceRequestSchema>;
/** An execution as the service reports it; `result` once it ran. */
export type Execution = Omit<z.output<typeof executionViewSchema>, 'result'> & {
  result: ExecutionResult | null;
};
export type ExecutionSummary = z.output<typeof listResponseSchema>['items'][number];
export type ListQuery = Partial<z.output<typeof listQuerySchema>>;
export type Batch = Omit<z.output<typeof batchResponseSchema>, 'executions'> & { executions: Execution[] };
export type BatchCreated = z.output<typeof batchCreatedSchema>;
export type Runtime = z.output<typeof runtimeSchema>;
export type Readiness = z.output<typeof readinessSchema>;
export type SessionOptions = CreateSessionBody;
export type CommandOptions = Omit<CommandBody, 'command'>;
export type SessionInfo = Omit<ServerSessionInfo, 'key'>;
export type CommandResult = StepResult;

/** One event of an execution's live stream, in the order the service sent them. */
export type ExecutionEvent =
  | { type: 'status'; status: 'queued' | 'running' | 'done' }
  | { type: 'stdout' | 'stderr'; data: string; encoding: 'utf8' | 'base64' }
  | { type: 'done'; execution: Execution };
