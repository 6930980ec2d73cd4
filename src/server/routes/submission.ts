import { BoxrunError, isBoxrunError } from '../../core/errors.js';
import type { ExecutionRequest } from '../../core/request.js';
import { checkCallbackUrl } from '../../executions/callback-guard.js';
import type { SubmitItem } from '../../executions/execution-service.js';
import { planExecution } from '../../runtimes/plan.js';
import type { RouteContext } from '../route-context.js';
import type { ServiceRequest } from '../schemas.js';

/** Prefixes an error's field path (`limits.timeoutMs` → `requests.3.limits.timeoutMs`). */
function withPrefix(error: BoxrunError, prefix: string): BoxrunError {
  if (!prefix) return error;
  const path = typeof error.details?.path === 'string' ? `${prefix}.${error.details.path}` : prefix;
  const message = error.message.startsWith(`${error.details?.path}:`)
    ? `${prefix}.${error.message}`
    : `${prefix}: ${error.message}`;
  return new BoxrunError(error.code, message, { cause: error, details: { ...error.details, path } });
}

/**
 * Everything that can be refused before anything is written: the plan (runtime, version, limits
 * against the configured maxima — the same function the executor runs) and the callback URL.
 */
export async function toSubmitItem(
  ctx: RouteContext,
  body: ServiceRequest,
  prefix = '',
  defaultCallbackUrl?: string,
): Promise<SubmitItem> {
  const { callbackUrl: own, ...request } = body;
  const callbackUrl = own ?? defaultCallbackUrl ?? null;
  try {
    planExecution(request, ctx.registry, ctx.config);
    if (callbackUrl) await checkCallbackUrl(callbackUrl, ctx.config.server.allowPrivateCallbacks);
  } catch (error) {
    if (isBoxrunError(error)) throw withPrefix(error, prefix);
    throw error;
  }
  return { request: request as ExecutionRequest, callbackUrl };
}
