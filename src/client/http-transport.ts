import { apiErrorFromResponse, BoxrunApiError } from './api-error.js';

export interface RetryOptions {
  /** Attempts after the first (default 3). 0 turns retries off. */
  retries?: number;
  /** First backoff delay; doubled each time, with jitter (default 250 ms). */
  baseDelayMs?: number;
  /** Longest single wait, also caps the service's Retry-After (default 5000 ms). */
  maxDelayMs?: number;
}

export interface TransportOptions {
  baseUrl: string;
  apiKey?: string | undefined;
  retry?: RetryOptions | undefined;
  fetch?: typeof fetch | undefined;
  /** Sent with every request (e.g. a tracing header). */
  headers?: Record<string, string> | undefined;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface RequestOptions extends CallOptions {
  query?: Record<string, string | number | undefined> | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
  /**
   * Whether sending it twice is harmless: GET/PUT/DELETE, and submissions that carry an
   * Idempotency-Key. Such calls are retried after network errors and 429/502/503/504; any call is
   * retried when the service refused it before accepting anything (QUEUE_FULL, RATE_LIMITED,
   * SHUTTING_DOWN).
   */
  idempotent: boolean;
  /** Non-2xx statuses that are answers, not errors (e.g. 503 from /readyz). */
  acceptStatuses?: number[] | undefined;
}

/** Refusals that mean nothing was accepted, so resending cannot run anything twice. */
const NOT_ACCEPTED = new Set(['QUEUE_FULL', 'RATE_LIMITED', 'SHUTTING_DOWN']);
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** fetch against one boxrun service: auth header, JSON, typed errors, retries with backoff. */
export class HttpTransport {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  private readonly retries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey || undefined;
    this.retries = options.retry?.retries ?? 3;
    this.baseDelayMs = options.retry?.baseDelayMs ?? 250;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 5000;
    // Bound late so a polyfill installed after the client was made is used, and never called with
    // the transport as `this` (browsers throw "Illegal invocation").
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.headers = options.headers ?? {};
  }

  url(path: string, query?: RequestOptions['query']): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  authHeaders(): Record<string, string> {
    return this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {};
  }

  /** The response of a successful call (2xx); anything else is thrown as a BoxrunApiError. */
  async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...this.headers,
      ...this.authHeaders(),
      ...options.headers,
    };
    let body: BodyInit | undefined;
    if (options.body instanceof Uint8Array) {
      body = options.body as BodyInit;
      headers['content-type'] ??= 'application/octet-stream';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const url = this.url(path, options.query);
    for (let attempt = 0; ; attempt++) {
      let error: BoxrunApiError;
      try {
        const response = await this.fetchImpl(url, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        if (response.ok || options.acceptStatuses?.includes(response.status)) return response;
        error = await apiErrorFromResponse(response);
      } catch (cause) {
        if (options.signal?.aborted) throw abortReason(options.signal);
        if (cause instanceof BoxrunApiError) throw cause;
        error = new BoxrunApiError({
          code: 'NETWORK_ERROR',
          status: 0,
          message: `${method} ${url}: ${(cause as Error).message ?? String(cause)}`,
          cause,
        });
      }
      const retryable =
        NOT_ACCEPTED.has(error.code) ||
        (options.idempotent && (error.status === 0 || RETRYABLE_STATUS.has(error.status)));
      if (!retryable || attempt >= this.retries) throw error;
      const backoff = this.baseDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
      await sleep(Math.min(this.maxDelayMs, Math.max(backoff, error.retryAfterMs ?? 0)), options.signal);
    }
  }

  async json<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const response = await this.send(method, path, options);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** Waits between polls of a long-running state, abortable. */
  pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return sleep(ms, signal);
  }
}
