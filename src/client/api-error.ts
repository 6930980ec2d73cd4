/**
 * A failed call to a boxrun service, with the service's stable `code` (`INVALID_REQUEST`,
 * `UNAUTHORIZED`, `ENGINE_UNAVAILABLE`, …), the HTTP status and, for a bad field, its path
 * (`files.0.path`). Failures the service never answered are `NETWORK_ERROR` (status 0) and bodies
 * that are not boxrun's error shape are `BAD_RESPONSE`.
 */
export class BoxrunApiError extends Error {
  readonly code: string;
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** The JSON path of the offending field, for validation errors. */
  readonly path: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  /** What the service asked the client to wait before retrying (from `Retry-After`). */
  readonly retryAfterMs: number | undefined;
  /** With `?wait=true`: the accepted execution that could not run (it keeps its id). */
  readonly execution: unknown;

  constructor(init: {
    code: string;
    status: number;
    message: string;
    path?: string | undefined;
    details?: Record<string, unknown> | undefined;
    retryAfterMs?: number | undefined;
    execution?: unknown;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'BoxrunApiError';
    this.code = init.code;
    this.status = init.status;
    this.path = init.path;
    this.details = init.details;
    this.retryAfterMs = init.retryAfterMs;
    this.execution = init.execution;
  }
}

export function isBoxrunApiError(error: unknown, code?: string): error is BoxrunApiError {
  return error instanceof BoxrunApiError && (code === undefined || error.code === code);
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The error a non-2xx response stands for, read from boxrun's `{error: {code, message, path?}}`. */
export async function apiErrorFromResponse(response: Response): Promise<BoxrunApiError> {
  const text = await response.text().catch(() => '');
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: reported as BAD_RESPONSE below
  }
  const error = (body as { error?: unknown } | null)?.error as
    | { code?: unknown; message?: unknown; path?: unknown; details?: unknown }
    | undefined;
  const retry = retryAfterMs(response.headers.get('retry-after'));
  if (!error || typeof error.code !== 'string') {
    return new BoxrunApiError({
      code: 'BAD_RESPONSE',
      status: response.status,
      message: `HTTP ${response.status} ${response.statusText}: ${text.slice(0, 200)}`,
      retryAfterMs: retry,
    });
  }
  return new BoxrunApiError({
    code: error.code,
    status: response.status,
    message: typeof error.message === 'string' ? error.message : error.code,
    path: typeof error.path === 'string' ? error.path : undefined,
    details:
      error.details && typeof error.details === 'object'
        ? (error.details as Record<string, unknown>)
        : undefined,
    retryAfterMs: retry,
    execution: (body as { execution?: unknown }).execution,
  });
}
