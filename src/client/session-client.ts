import { BoxrunApiError } from './api-error.js';
import type { CallOptions, HttpTransport } from './http-transport.js';
import type { CommandOptions, CommandResult, SessionInfo } from './types.js';

/** The WebSocket constructors the client can use: the standard one, or `ws` (which takes headers). */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  options?: { headers?: Record<string, string> },
) => WebSocket;

export interface AttachOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  signal?: AbortSignal;
}

/** A command running with its stdin open over the attach WebSocket. */
export interface AttachedCommand {
  /** Writes to its stdin. */
  write(text: string): void;
  /** Closes its stdin. */
  end(): void;
  kill(): void;
  /** Its result, when it exits. */
  result: Promise<CommandResult>;
}

/** A sandbox that lives across calls (POST /v1/sessions): commands, files, an attached command. */
export class SessionClient {
  constructor(
    private readonly http: HttpTransport,
    readonly info: SessionInfo,
    private readonly webSocket: WebSocketConstructor | undefined,
  ) {}

  get id(): string {
    return this.info.id;
  }

  private get path(): string {
    return `/v1/sessions/${encodeURIComponent(this.id)}`;
  }

  /** Runs a shell string (`/bin/sh -c`) or an argv; a failing command is a result, not an error. */
  run(command: string | string[], options: CommandOptions & CallOptions = {}): Promise<CommandResult> {
    const { signal, ...body } = options;
    // Not idempotent: a command may have side effects, so it is never sent twice.
    return this.http.json<CommandResult>('POST', `${this.path}/commands`, {
      idempotent: false,
      signal,
      body: { command, ...body },
    });
  }

  async writeFile(
    path: string,
    content: string | Uint8Array,
    options: { executable?: boolean } & CallOptions = {},
  ): Promise<void> {
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    await this.http.json('PUT', `${this.path}/files`, {
      idempotent: true,
      signal: options.signal,
      query: { path },
      body: {
        content: bytesToBase64(bytes),
        encoding: 'base64',
        ...(options.executable ? { executable: true } : {}),
      },
    });
  }

  async readFileBytes(path: string, options: CallOptions = {}): Promise<Uint8Array> {
    const response = await this.http.send('GET', `${this.path}/files`, {
      idempotent: true,
      signal: options.signal,
      query: { path },
      headers: { accept: 'application/octet-stream' },
    });
    if ((response.headers.get('content-type') ?? '').includes('json')) {
      throw new BoxrunApiError({ code: 'INVALID_REQUEST', status: 400, message: `${path} is a directory` });
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  async readFile(path: string, options: CallOptions = {}): Promise<string> {
    return new TextDecoder().decode(await this.readFileBytes(path, options));
  }

  /**
   * Starts a command with its stdin open, over a WebSocket. Browsers cannot put an Authorization
   * header on a WebSocket, so with API keys on this works from Node (with the `ws` package given as
   * `webSocket`) but not from a page.
   */
  attach(command: string | string[], options: AttachOptions = {}): Promise<AttachedCommand> {
    const Ctor = this.webSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) {
      return Promise.reject(
        new BoxrunApiError({
          code: 'UNSUPPORTED',
          status: 0,
          message: 'no WebSocket here: pass one as `webSocket` (e.g. the `ws` package) to BoxrunClient',
        }),
      );
    }
    const url = this.http.url(`${this.path}/attach`).replace(/^http/, 'ws');
    const headers = this.http.authHeaders();
    const socket =
      Object.keys(headers).length > 0 && Ctor !== (globalThis as { WebSocket?: unknown }).WebSocket
        ? new Ctor(url, [], { headers })
        : new Ctor(url);
    return new Promise((resolveAttached, rejectAttached) => {
      let settle: { resolve: (r: CommandResult) => void; reject: (e: unknown) => void };
      const result = new Promise<CommandResult>((resolve, reject) => {
        settle = { resolve, reject };
      });
      // Callers who only await attach() must not see an unhandled rejection.
      result.catch(() => {});
      let started = false;
      const send = (message: unknown) => {
        if (socket.readyState === 1) socket.send(JSON.stringify(message));
      };
      const handle: AttachedCommand = {
        write: (text) => send({ type: 'data', stream: 'stdin', data: text }),
        end: () => send({ type: 'eof' }),
        kill: () => send({ type: 'signal', signal: 'SIGKILL' }),
        result,
      };
      const fail = (error: unknown) => {
        if (!started) rejectAttached(error);
        settle.reject(error);
        socket.close();
      };
      options.signal?.addEventListener('abort', () => fail(options.signal?.reason), { once: true });
      socket.onopen = () =>
        send({
          type: 'init',
          command,
          ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
          ...(options.env ? { env: options.env } : {}),
          ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
        });
      socket.onmessage = (event: MessageEvent) => {
        const message = JSON.parse(String(event.data)) as Record<string, unknown>;
        if (message.type === 'runtime') {
          started = true;
          resolveAttached(handle);
        } else if (message.type === 'data') {
          const text = String(message.data ?? '');
          if (message.stream === 'stderr') options.onStderr?.(text);
          else options.onStdout?.(text);
        } else if (message.type === 'exit') {
          settle.resolve(message.result as CommandResult);
        } else if (message.type === 'error') {
          fail(
            new BoxrunApiError({
              code: String(message.code ?? 'INTERNAL'),
              status: 0,
              message: String(message.message ?? 'attach failed'),
            }),
          );
        }
      };
      socket.onerror = () =>
        fail(new BoxrunApiError({ code: 'NETWORK_ERROR', status: 0, message: `WebSocket ${url} failed` }));
      socket.onclose = () =>
        fail(new BoxrunApiError({ code: 'NETWORK_ERROR', status: 0, message: 'attach closed early' }));
    });
  }

  /** Its state now. */
  get(options: CallOptions = {}): Promise<SessionInfo> {
    return this.http.json<SessionInfo>('GET', this.path, { idempotent: true, signal: options.signal });
  }

  /** Ends it and removes its sandbox. */
  close(options: CallOptions = {}): Promise<SessionInfo> {
    return this.http.json<SessionInfo>('DELETE', this.path, { idempotent: true, signal: options.signal });
  }
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
