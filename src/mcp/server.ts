import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { isBoxrunError } from '../core/errors.js';
import type { Executor } from '../core/executor.js';
import type { StepResult } from '../core/result.js';
import { BOXRUN_VERSION } from '../core/version.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import { installPythonPackages } from '../sessions/python.js';
import type { SessionManager } from '../sessions/session-manager.js';

export interface BoxrunMcpOptions {
  executor: Executor;
  sessions: SessionManager;
  registry: RuntimeRegistry;
  version?: string;
}

/** Tool failures an agent can act on are results with `isError: true`, never protocol errors. */
function toolError(error: unknown): CallToolResult {
  const text = isBoxrunError(error)
    ? `${error.code}: ${error.message}`
    : `INTERNAL: ${(error as Error)?.message ?? String(error)}`;
  return { isError: true, content: [{ type: 'text', text }] };
}

function textResult(value: unknown): CallToolResult {
  return {
    content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }],
  };
}

/** What an agent needs from a run, in the order it reads it. */
function summarize(result: StepResult & { files?: unknown }) {
  return {
    status: result.status,
    exitCode: result.exitCode,
    ...(result.signal ? { signal: result.signal } : {}),
    stdout: result.stdout,
    stderr: result.stderr,
    ...(result.stdoutEncoding !== 'utf8' ? { stdoutEncoding: result.stdoutEncoding } : {}),
    ...(result.stderrEncoding !== 'utf8' ? { stderrEncoding: result.stderrEncoding } : {}),
    durationMs: result.durationMs,
    ...(result.timedOut ? { timedOut: true } : {}),
    ...(result.oomKilled ? { oomKilled: true } : {}),
    ...(result.outputTruncated ? { outputTruncated: true } : {}),
    ...(result.message ? { message: result.message } : {}),
  };
}

async function guarded(work: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await work();
  } catch (error) {
    return toolError(error);
  }
}

/**
 * boxrun as MCP tools: one-shot runs, sessions (commands and files that persist between calls),
 * and the runtime list. A program that fails is a normal result (status, exit code, output); only
 * boxrun's own faults (unknown runtime, unknown session, engine down, bad input) are `isError`.
 */
export function createMcpServer(options: BoxrunMcpOptions): McpServer {
  const { executor, sessions, registry } = options;
  const server = new McpServer({ name: 'boxrun', version: options.version ?? BOXRUN_VERSION });
  const runtimeNames = registry.names().join(', ');

  server.registerTool(
    'run_code',
    {
      title: 'Run code',
      description: `Run a program once in a fresh locked-down sandbox (no network) and return its status, exit code, stdout and stderr. Runtimes: ${runtimeNames}.`,
      inputSchema: {
        language: z.string().describe(`runtime name or alias (${runtimeNames})`),
        code: z.string().describe('the source of the main file'),
        stdin: z.string().optional().describe('text fed to the program on stdin'),
        args: z.array(z.string()).optional().describe('command-line arguments'),
        timeoutMs: z.number().int().positive().optional().describe('wall-clock limit in ms'),
      },
    },
    ({ language, code, stdin, args, timeoutMs }) =>
      guarded(async () => {
        const runtime = registry.get(language);
        const result = await executor.execute({
          runtime: runtime.name,
          files: [{ path: runtime.sourceFile, content: code }],
          ...(stdin !== undefined ? { stdin } : {}),
          ...(args ? { argv: args } : {}),
          ...(timeoutMs ? { limits: { timeoutMs } } : {}),
        });
        return textResult({
          ...summarize(result),
          // Which isolation the code actually had (the configured executor, or a fallback).
          isolationLevel: result.isolationLevel,
          ...(result.compile && result.compile.status !== 'ok' ? { compile: summarize(result.compile) } : {}),
        });
      }),
  );

  server.registerTool(
    'create_session',
    {
      title: 'Create a session',
      description:
        'Start a sandbox that lives across calls: files written and packages installed stay until it ends (close_session, idle timeout, or max lifetime). Returns its session_id.',
      inputSchema: {
        runtime: z.string().describe(`runtime name or alias (${runtimeNames})`),
        network: z
          .enum(['none', 'full'])
          .optional()
          .describe("'none' (default) or 'full' (needed to install packages from an index)"),
        requirements: z
          .array(z.string())
          .optional()
          .describe('Python packages to pip install (python runtime)'),
        idleTimeoutMs: z.number().int().positive().optional(),
      },
    },
    ({ runtime, network, requirements, idleTimeoutMs }) =>
      guarded(async () => {
        const session = await sessions.create({
          runtime,
          ...(network ? { network } : {}),
          ...(idleTimeoutMs ? { idleTimeoutMs } : {}),
        });
        if (requirements && requirements.length > 0) {
          const install = await installPythonPackages(session, requirements).catch(async (error) => {
            await session.close();
            throw error;
          });
          if (install.status !== 'ok') {
            await session.close();
            return {
              isError: true,
              content: [
                {
                  type: 'text',
                  text: `installing requirements failed (exit ${install.exitCode}); the session was closed.\n${install.stderr.slice(-4000)}`,
                },
              ],
            };
          }
        }
        const info = session.info();
        return textResult({
          session_id: info.id,
          runtime: info.runtime,
          network: info.network,
          expiresAt: info.expiresAt,
        });
      }),
  );

  server.registerTool(
    'run_command',
    {
      title: 'Run a command in a session',
      description:
        "Run a shell command (sh -c) in a session's work dir and return status, exit code, stdout and stderr. Processes do not outlive the command; files do.",
      inputSchema: {
        session_id: z.string(),
        command: z.string().describe('shell command line'),
        stdin: z.string().optional(),
        timeoutMs: z.number().int().positive().optional(),
      },
    },
    ({ session_id, command, stdin, timeoutMs }) =>
      guarded(async () => {
        const result = await sessions.get(session_id).run(command, {
          ...(stdin !== undefined ? { stdin } : {}),
          ...(timeoutMs ? { timeoutMs } : {}),
        });
        return textResult(summarize(result));
      }),
  );

  server.registerTool(
    'write_file',
    {
      title: 'Write a file in a session',
      description: "Write (or overwrite) a file in a session's work dir; parent directories are created.",
      inputSchema: {
        session_id: z.string(),
        path: z.string().describe('relative to the work dir, no ..'),
        content: z.string(),
        encoding: z.enum(['utf8', 'base64']).optional(),
      },
    },
    ({ session_id, path, content, encoding }) =>
      guarded(async () => {
        const bytes = Buffer.from(content, encoding === 'base64' ? 'base64' : 'utf8');
        await sessions.get(session_id).files.write(path, bytes);
        return textResult(`wrote ${bytes.length} bytes to ${path}`);
      }),
  );

  server.registerTool(
    'read_file',
    {
      title: 'Read a file in a session',
      description: "Read a file from a session's work dir (UTF-8 text, or base64 for binary content).",
      inputSchema: { session_id: z.string(), path: z.string() },
    },
    ({ session_id, path }) =>
      guarded(async () => {
        const bytes = await sessions.get(session_id).files.readBytes(path);
        const text = bytes.toString('utf8');
        return Buffer.from(text, 'utf8').equals(bytes)
          ? textResult(text)
          : textResult({ path, encoding: 'base64', content: bytes.toString('base64') });
      }),
  );

  server.registerTool(
    'list_files',
    {
      title: 'List files in a session',
      description: "List a directory of a session's work dir.",
      inputSchema: { session_id: z.string(), path: z.string().optional() },
    },
    ({ session_id, path }) =>
      guarded(async () => textResult(await sessions.get(session_id).files.list(path ?? '.'))),
  );

  server.registerTool(
    'close_session',
    {
      title: 'Close a session',
      description: 'End a session and remove its sandbox.',
      inputSchema: { session_id: z.string() },
    },
    ({ session_id }) =>
      guarded(async () => {
        await sessions.get(session_id).close();
        return textResult(`session ${session_id} closed`);
      }),
  );

  server.registerTool(
    'list_runtimes',
    {
      title: 'List runtimes',
      description: 'The languages boxrun can run, with versions and aliases.',
      inputSchema: {},
    },
    () =>
      guarded(async () =>
        textResult(
          registry.all.map((r) => ({
            name: r.name,
            version: r.version,
            aliases: r.aliases,
            extensions: r.extensions,
          })),
        ),
      ),
  );

  return server;
}
