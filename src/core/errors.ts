/** Stable codes for boxrun's own faults. A user program's failure is never one of these: it is a result. */
export type BoxrunErrorCode =
  | 'INVALID_REQUEST'
  | 'UNKNOWN_RUNTIME'
  | 'ENGINE_UNAVAILABLE'
  /** The isolation tier a request asked for is not set up on this machine (503, names the setup command). */
  | 'ISOLATION_UNAVAILABLE'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_BUILD_FAILED'
  | 'SANDBOX_FAILED'
  | 'SETUP_FAILED'
  | 'CONFIG_INVALID'
  | 'NOT_FOUND'
  | 'CANCELED'
  | 'QUEUE_FULL'
  | 'STORE_UNAVAILABLE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'SHUTTING_DOWN'
  | 'INTERNAL';

export class BoxrunError extends Error {
  readonly code: BoxrunErrorCode;
  /** Extra machine-readable detail (e.g. the list of runtimes, the field path). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: BoxrunErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BoxrunError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isBoxrunError(error: unknown, code?: BoxrunErrorCode): error is BoxrunError {
  return error instanceof BoxrunError && (code === undefined || error.code === code);
}
