import type { ExecutionRecord } from '../store/execution-store.js';

/** What a subscriber of a queued or running execution sees, in order. */
export type LiveEvent =
  | { type: 'status'; status: 'running' }
  | { type: 'output'; stream: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'done'; record: ExecutionRecord }
  /** The stream ends without a result (the service stops); `error` says why. */
  | { type: 'closing'; error: unknown };

export interface Completion {
  record: ExecutionRecord;
  /** stdout and stderr interleaved in the order the program wrote them (the run step). */
  output: Buffer;
}

export interface Subscription {
  /** What happened before the subscription, to be handled before anything the listener gets. */
  replay: LiveEvent[];
  unsubscribe: () => void;
}

/**
 * Live events of executions between acceptance and their end: the worker side publishes, API-side
 * readers (SSE, `?wait=true`, Piston) subscribe. An execution's stream is open from `open` until a
 * `done` or `closing` event, which ends it. Subscribing to one that is not open answers null (it is
 * over: the stored record is the whole story).
 */
export interface LiveEvents {
  open(id: string): void;
  isOpen(id: string): boolean;
  publish(id: string, event: LiveEvent): void;
  subscribe(id: string, listener: (event: LiveEvent) => void): Subscription | null;
  /** Resolves with the record and output at `done`, rejects with the reason at `closing`; null when not open. */
  completion(id: string): Promise<Completion> | null;
}

interface Stream {
  running: boolean;
  chunks: { stream: 'stdout' | 'stderr'; data: Buffer }[];
  listeners: Set<(event: LiveEvent) => void>;
}

/** Live events inside one process (embedded mode: the API and the worker are the same process). */
export class InProcessLiveEvents implements LiveEvents {
  private readonly streams = new Map<string, Stream>();

  /** Listener failures are reported here and never reach the publisher. */
  constructor(private readonly onListenerError: (error: unknown) => void) {}

  open(id: string): void {
    if (!this.streams.has(id)) this.streams.set(id, { running: false, chunks: [], listeners: new Set() });
  }

  isOpen(id: string): boolean {
    return this.streams.has(id);
  }

  publish(id: string, event: LiveEvent): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    if (event.type === 'status') stream.running = true;
    else if (event.type === 'output') stream.chunks.push({ stream: event.stream, data: event.data });
    else this.streams.delete(id);
    for (const listener of stream.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  subscribe(id: string, listener: (event: LiveEvent) => void): Subscription | null {
    const stream = this.streams.get(id);
    if (!stream) return null;
    const replay: LiveEvent[] = [];
    if (stream.running) replay.push({ type: 'status', status: 'running' });
    for (const c of stream.chunks) replay.push({ type: 'output', stream: c.stream, data: c.data });
    stream.listeners.add(listener);
    return { replay, unsubscribe: () => stream.listeners.delete(listener) };
  }

  completion(id: string): Promise<Completion> | null {
    const stream = this.streams.get(id);
    if (!stream) return null;
    return new Promise((resolve, reject) => {
      const listener = (event: LiveEvent) => {
        if (event.type === 'done') {
          resolve({ record: event.record, output: Buffer.concat(stream.chunks.map((c) => c.data)) });
        } else if (event.type === 'closing') {
          reject(event.error);
        }
      };
      stream.listeners.add(listener);
    });
  }
}
