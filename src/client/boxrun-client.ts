import { BoxrunApiError } from './api-error.js';
import { ExecutionHandle } from './execution-handle.js';
import { type CallOptions, HttpTransport, type RetryOptions } from './http-transport.js';
import { SessionClient, type WebSocketConstructor } from './session-client.js';
import type {
  Batch,
  BatchCreated,
  Execution,
  ExecutionRequest,
  ExecutionSummary,
  ListQuery,
  Readiness,
  Runtime,
  SessionInfo,
  SessionOptions,
} from './types.js';

export interface BoxrunClientOptions {
  /** The service, e.g. `http://127.0.0.1:8080`; a page served by boxrun can pass `location.origin`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` when the service has API keys on. */
  apiKey?: string | undefined;
  retry?: RetryOptions | undefined;
  /** Another fetch (a test double, a proxy agent); the global one otherwise. */
  fetch?: typeof fetch | undefined;
  /** A WebSocket constructor for `session().attach()` where there is no global one (Node 20: `ws`). */
  webSocket?: WebSocketConstructor | undefined;
}

export interface SubmitOptions extends CallOptions {
  /**
   * Makes resubmitting safe: the service answers a repeated key with the first execution. One is
   * made per call when not given, and the same one is sent on every retry of that call.
   */
  idempotencyKey?: string | undefined;
}

function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * A typed client for a boxrun service. Only web-platform APIs (fetch, streams, WebSocket), so it runs
 * in Node 20+, browsers and edge runtimes. Failures of the user's program are results; failures of
 * the call are `BoxrunApiError`s.
 */
export class BoxrunClient {
  private readonly http: HttpTransport;
  private readonly webSocket: WebSocketConstructor | undefined;

  constructor(options: BoxrunClientOptions) {
    this.http = new HttpTransport(options);
    this.webSocket = options.webSocket;
  }

  /** Runs a request and waits for it: the finished execution, whatever the program did. */
  async execute(request: ExecutionRequest, options: SubmitOptions = {}): Promise<Execution> {
    return this.http.json<Execution>('POST', '/v1/executions', {
      idempotent: true,
      signal: options.signal,
      query: { wait: 'true' },
      headers: { 'idempotency-key': options.idempotencyKey ?? newIdempotencyKey() },
      body: request,
    });
  }

  /** Queues a request and answers at once with a handle to follow, wait for or cancel it. */
  async submit(request: ExecutionRequest, options: SubmitOptions = {}): Promise<ExecutionHandle> {
    const execution = await this.http.json<Execution>('POST', '/v1/executions', {
      idempotent: true,
      signal: options.signal,
      query: { wait: 'false' },
      headers: { 'idempotency-key': options.idempotencyKey ?? newIdempotencyKey() },
      body: request,
    });
    return new ExecutionHandle(this.http, execution.id);
  }

  /** A handle to an execution by id (submitted earlier, or by someone else with the same key). */
  execution(id: string): ExecutionHandle {
    return new ExecutionHandle(this.http, id);
  }

  get(id: string, options: CallOptions = {}): Promise<Execution> {
    return this.execution(id).get(options);
  }

  /** Every execution (newest first), fetching pages as the loop goes. */
  async *list(query: ListQuery = {}, options: CallOptions = {}): AsyncGenerator<ExecutionSummary> {
    let cursor = query.cursor;
    do {
      const page = await this.http.json<{ items: ExecutionSummary[]; nextCursor: string | null }>(
        'GET',
        '/v1/executions',
        { idempotent: true, signal: options.signal, query: { ...query, cursor } },
      );
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /** Submits several requests as one batch (its own fairness lane); accepted whole or not at all. */
  async batch(
    requests: ExecutionRequest[],
    options: CallOptions & { callbackUrl?: string } = {},
  ): Promise<BatchHandle> {
    // No Idempotency-Key on batches yet, so a batch is only resent when it was surely not accepted.
    const created = await this.http.json<BatchCreated>('POST', '/v1/batches', {
      idempotent: false,
      signal: options.signal,
      body: { requests, ...(options.callbackUrl ? { callbackUrl: options.callbackUrl } : {}) },
    });
    return new BatchHandle(this.http, created);
  }

  runtimes(options: CallOptions = {}): Promise<Runtime[]> {
    return this.http.json<Runtime[]>('GET', '/v1/runtimes', { idempotent: true, signal: options.signal });
  }

  /** Readiness (engine, images, store, queue): `ready: false` with the `problems` is an answer, not an error. */
  health(options: CallOptions = {}): Promise<Readiness> {
    return this.http.json<Readiness>('GET', '/readyz', {
      idempotent: true,
      signal: options.signal,
      acceptStatuses: [503],
    });
  }

  /** Starts a session: a sandbox that lives across commands until closed or idle. */
  async session(options: SessionOptions = {}, call: CallOptions = {}): Promise<SessionClient> {
    const info = await this.http.json<SessionInfo>('POST', '/v1/sessions', {
      idempotent: false,
      signal: call.signal,
      body: options,
    });
    return new SessionClient(this.http, info, this.webSocket);
  }
}

/** A submitted batch: its executions' handles, and the whole batch's state. */
export class BatchHandle {
  readonly id: string;
  readonly executions: ExecutionHandle[];

  constructor(
    private readonly http: HttpTransport,
    created: BatchCreated,
  ) {
    this.id = created.id;
    this.executions = created.executions.map((e) => new ExecutionHandle(http, e.id));
  }

  get(options: CallOptions = {}): Promise<Batch> {
    return this.http.json<Batch>('GET', `/v1/batches/${encodeURIComponent(this.id)}`, {
      idempotent: true,
      signal: options.signal,
    });
  }

  /** The batch once every execution in it is done. */
  async wait(options: CallOptions = {}): Promise<Batch> {
    for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
      const batch = await this.get(options);
      if (batch.executions.every((e) => e.status === 'done')) return batch;
      await this.http.pause(delay, options.signal);
    }
  }
}

export { BoxrunApiError };
