import { BoxrunApiError } from './api-error.js';
import type { CallOptions, HttpTransport } from './http-transport.js';
import { readServerSentEvents } from './sse.js';
import type { Execution, ExecutionEvent, ExecutionRequest } from './types.js';

/** An execution the service accepted: follow it live, wait for it, or cancel it. */
export class ExecutionHandle {
  constructor(
    private readonly http: HttpTransport,
    readonly id: string,
  ) {}

  private get path(): string {
    return `/v1/executions/${encodeURIComponent(this.id)}`;
  }

  /** Its state now (and the result when done). */
  get(options: CallOptions = {}): Promise<Execution> {
    return this.http.json<Execution>('GET', this.path, { idempotent: true, signal: options.signal });
  }

  /** The request it was submitted with (what the playground reloads for a permalink). */
  request(options: CallOptions = {}): Promise<ExecutionRequest> {
    return this.http.json<ExecutionRequest>('GET', `${this.path}/request`, {
      idempotent: true,
      signal: options.signal,
    });
  }

  /** Kills it when running; a finished one is left as it is. Answers with its state after. */
  cancel(options: CallOptions = {}): Promise<Execution> {
    return this.http.json<Execution>('DELETE', this.path, { idempotent: true, signal: options.signal });
  }

  /**
   * The live stream: `status` changes, `stdout`/`stderr` chunks in the order the program wrote
   * them, then `done` with the finished execution. A late subscriber gets the stored output, then
   * `done`. Breaking out of the loop closes the stream.
   */
  async *events(options: CallOptions = {}): AsyncGenerator<ExecutionEvent, void, undefined> {
    const response = await this.http.send('GET', `${this.path}/events`, {
      idempotent: true,
      signal: options.signal,
      headers: { accept: 'text/event-stream' },
    });
    if (!response.body) throw new BoxrunApiError({ code: 'BAD_RESPONSE', status: 200, message: 'no body' });
    for await (const event of readServerSentEvents(response.body)) {
      const data = JSON.parse(event.data) as Record<string, unknown>;
      switch (event.event) {
        case 'status':
          yield { type: 'status', status: data.status as 'queued' | 'running' | 'done' };
          break;
        case 'stdout':
        case 'stderr':
          yield {
            type: event.event,
            data: String(data.data ?? ''),
            encoding: data.encoding === 'base64' ? 'base64' : 'utf8',
          };
          break;
        case 'result':
          yield { type: 'done', execution: data as unknown as Execution };
          return;
        case 'error':
          throw new BoxrunApiError({
            code: String(data.code ?? 'INTERNAL'),
            status: 200,
            message: String(data.message ?? 'the event stream failed'),
          });
      }
    }
    // The stream ended without a result (a proxy cut it, the service restarted): ask for the state.
    yield { type: 'done', execution: await this.poll(options) };
  }

  /**
   * The finished execution (status `done`: a result, a cancellation or a failure in `error`).
   * Follows the event stream; polls when the stream breaks off.
   */
  async wait(options: CallOptions = {}): Promise<Execution> {
    try {
      for await (const event of this.events(options)) if (event.type === 'done') return event.execution;
    } catch (error) {
      if (options.signal?.aborted || (error instanceof BoxrunApiError && error.status !== 0)) throw error;
    }
    return this.poll(options);
  }

  private async poll(options: CallOptions): Promise<Execution> {
    for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
      const execution = await this.get(options);
      if (execution.status === 'done') return execution;
      await this.http.pause(delay, options.signal);
    }
  }
}
