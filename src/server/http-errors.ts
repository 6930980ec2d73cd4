import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { BoxrunError, type BoxrunErrorCode, isBoxrunError } from '../core/errors.js';

/** The one place where an error code becomes an HTTP status. */
export function httpStatusFor(code: BoxrunErrorCode): number {
  switch (code) {
    case 'INVALID_REQUEST':
    case 'UNKNOWN_RUNTIME':
      return 400;
    case 'UNAUTHORIZED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'CANCELED':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'RATE_LIMITED':
      return 429;
    case 'QUEUE_FULL':
    case 'ENGINE_UNAVAILABLE':
    case 'ISOLATION_UNAVAILABLE':
    case 'IMAGE_NOT_FOUND':
    case 'STORE_UNAVAILABLE':
    case 'SHUTTING_DOWN':
      return 503;
    default:
      return 500;
  }
}

/** Seconds a client should wait before retrying, for the codes where retrying helps. */
export function retryAfterFor(code: BoxrunErrorCode): number | undefined {
  switch (code) {
    case 'QUEUE_FULL':
    case 'SHUTTING_DOWN':
      return 5;
    case 'ENGINE_UNAVAILABLE':
    case 'IMAGE_NOT_FOUND':
    case 'STORE_UNAVAILABLE':
      return 10;
    case 'RATE_LIMITED':
      return 1;
    default:
      return undefined;
  }
}

export interface ErrorBody {
  error: { code: string; message: string; path?: string; details?: Record<string, unknown> };
}

const FASTIFY_CODES: Record<number, BoxrunErrorCode> = {
  400: 'INVALID_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
};

/**
 * Any error thrown while handling a request, as a BoxrunError: schema validation failures name the
 * field's path, Fastify's own 4xx errors keep their status, everything else is INTERNAL (logged with
 * its stack by the caller, never sent).
 */
export function toBoxrunError(error: unknown): { error: BoxrunError; status: number } {
  if (isBoxrunError(error)) return { error, status: httpStatusFor(error.code) };
  if (hasZodFastifySchemaValidationErrors(error)) {
    const fe = error as FastifyError;
    const where = fe.validationContext === 'querystring' ? 'query' : (fe.validationContext ?? 'body');
    const issues = (fe.validation ?? []).map((v) => ({
      path: v.instancePath.replace(/^\//, '').replaceAll('/', '.'),
      message: v.message ?? 'invalid',
    }));
    const first = issues[0];
    const path = first?.path || `(${where})`;
    return {
      error: new BoxrunError('INVALID_REQUEST', `${path}: ${first?.message ?? 'invalid'}`, {
        details: { path, in: where, issues },
      }),
      status: 400,
    };
  }
  const fe = error as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { error: new BoxrunError('PAYLOAD_TOO_LARGE', 'request body is too large'), status: 413 };
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    return {
      error: new BoxrunError(FASTIFY_CODES[status] ?? 'INVALID_REQUEST', fe.message ?? 'bad request'),
      status,
    };
  }
  return { error: new BoxrunError('INTERNAL', 'internal error'), status: 500 };
}

export function errorBody(error: BoxrunError): ErrorBody {
  const path = typeof error.details?.path === 'string' ? error.details.path : undefined;
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(path ? { path } : {}),
      ...(error.details ? { details: error.details } : {}),
    },
  };
}

/** Sends an error in the v1 shape (`{error: {code, message, path?}}`), with Retry-After when useful. */
export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  raw: unknown,
  shape: (e: BoxrunError) => unknown = errorBody,
): FastifyReply {
  const { error, status } = toBoxrunError(raw);
  if (status >= 500 && error.code === 'INTERNAL') request.log.error({ err: raw }, 'request failed');
  else request.log.info({ code: error.code, status }, error.message);
  const retryAfter = retryAfterFor(error.code);
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="boxrun"');
  return reply.code(status).type('application/json').send(shape(error));
}
