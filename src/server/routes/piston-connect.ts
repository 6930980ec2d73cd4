import { StringDecoder } from 'node:string_decoder';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { BoxrunError, isBoxrunError } from '../../core/errors.js';
import { planExecution } from '../../runtimes/plan.js';
import type { Session } from '../../sessions/session.js';
import type { SessionManager } from '../../sessions/session-manager.js';
import type { PistonRuntimes } from '../compat/piston-runtimes.js';
import type { RouteContext } from '../route-context.js';
import { pistonToRequest } from './piston.js';

/** Piston's signal names (its globals.SIGNALS): anything else closes the socket with 4005. */
const PISTON_SIGNALS = new Set([
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL',
  'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT',
  'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF',
  'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
]); // biome-ignore format: a list of names reads best packed

/** Piston closes a socket that has not sent `init` within a second. */
const INIT_TIMEOUT_MS = 1000;

/**
 * Piston's interactive protocol (/api/v2/connect) on a boxrun session: `init` (an /execute body)
 * → `runtime`, then per stage `stage`, `data` (stdout/stderr) and `exit`; the client sends `data`
 * on stdin and `signal` (or `kill`). Close codes as Piston's: 4000 already initialized, 4001 init
 * timeout, 4002 error (after an `error` message), 4003 not initialized, 4004 not stdin, 4005 bad
 * signal, 4999 job completed.
 */
export async function registerPistonConnect(
  app: FastifyInstance,
  ctx: RouteContext,
  sessions: SessionManager,
  runtimes: PistonRuntimes,
): Promise<void> {
  if (!app.hasDecorator('websocketServer')) await app.register(websocket);
  app.route({
    method: 'GET',
    url: '/connect',
    schema: {
      summary: "Piston's interactive WebSocket (init, data, signal; runtime, stage, exit)",
      tags: ['piston'],
    },
    handler: async () => {
      throw new BoxrunError('INVALID_REQUEST', 'connect: this route takes a WebSocket (Upgrade: websocket)');
    },
    wsHandler: (socket, request) => connect(socket, ctx, sessions, runtimes, request.caller.name),
  });
}

type Handle = ReturnType<Session['start']>;

function connect(
  socket: WebSocket,
  ctx: RouteContext,
  sessions: SessionManager,
  runtimes: PistonRuntimes,
  key: string,
): void {
  let initialized = false;
  let session: Session | null = null;
  let handle: Handle | null = null;
  let closed = false;
  // stdin sent before the run stage starts (the session is still being created) waits for it.
  let pendingStdin: string[] | null = [];
  const send = (message: Record<string, unknown>) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  const close = (code: number, reason: string) => {
    if (socket.readyState === socket.OPEN) socket.close(code, reason);
  };
  const timer = setTimeout(() => {
    if (!initialized) close(4001, 'Initialization Timeout');
  }, INIT_TIMEOUT_MS);
  socket.on('close', () => {
    closed = true;
    clearTimeout(timer);
    handle?.kill();
    void session?.close('connection closed');
  });

  const stage = async (name: 'compile' | 'run', argv: string[], timeoutMs: number, interactive: boolean) => {
    send({ type: 'stage', stage: name });
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const data = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = decoders[stream].write(chunk);
      if (text) send({ type: 'data', stream, data: text });
    };
    handle = session!.start(argv, {
      interactive,
      timeoutMs,
      onStdout: data('stdout'),
      onStderr: data('stderr'),
    });
    if (interactive) {
      for (const text of pendingStdin ?? []) handle.sendStdin(text);
      pendingStdin = null;
    }
    try {
      const result = await handle.result;
      send({ type: 'exit', stage: name, code: result.exitCode, signal: result.signal });
      return result;
    } catch (error) {
      // Killed before the command started: to the client it ended by the signal it sent.
      if (!isBoxrunError(error) || error.code !== 'CANCELED') throw error;
      send({ type: 'exit', stage: name, code: null, signal: 'SIGKILL' });
      return null;
    } finally {
      handle = null;
    }
  };

  const run = async (body: Record<string, unknown>) => {
    const { request, runtime, piston } = pistonToRequest(body, ctx, runtimes);
    const plan = planExecution(request, ctx.registry, ctx.config);
    session = await sessions.create({
      runtime: runtime.name,
      key,
      limits: { memoryMb: plan.run.limits.memoryMb },
    });
    if (closed) return;
    for (const file of plan.run.job.files) await session.files.write(file.path, file.content);
    send({ type: 'runtime', language: piston.language, version: piston.version });
    if (plan.compile) {
      const compiled = await stage('compile', plan.compile.job.argv, plan.compile.limits.timeoutMs, false);
      if (compiled?.exitCode !== 0 || closed) return;
    }
    await stage('run', plan.run.job.argv, plan.run.limits.timeoutMs, true);
  };

  socket.on('message', (raw: Buffer) => {
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null) throw new Error('message must be a JSON object');
      message = parsed as Record<string, unknown>;
    } catch (error) {
      send({ type: 'error', message: (error as Error).message });
      return close(4002, 'Notified Error');
    }
    switch (message.type) {
      case 'init':
        if (initialized) return close(4000, 'Already Initialized');
        initialized = true;
        run(message)
          .then(() => close(4999, 'Job Completed'))
          .catch((error: unknown) => {
            send({ type: 'error', message: isBoxrunError(error) ? error.message : 'internal error' });
            close(4002, 'Notified Error');
          })
          .finally(() => void session?.close('job completed'));
        return;
      case 'data':
        if (!initialized) return close(4003, 'Not yet initialized');
        if (message.stream !== 'stdin') return close(4004, 'Can only write to stdin');
        if (pendingStdin) pendingStdin.push(String(message.data ?? ''));
        else handle?.sendStdin(String(message.data ?? ''));
        return;
      case 'signal':
      case 'kill':
        if (!initialized) return close(4003, 'Not yet initialized');
        if (message.type === 'signal' && !PISTON_SIGNALS.has(String(message.signal))) {
          return close(4005, 'Invalid signal');
        }
        // A session command is stopped with SIGKILL whatever the signal asked for.
        handle?.kill();
        return;
      default:
        return;
    }
  });
}
