import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Command } from 'commander';
import { createExecutor } from '../../backends/selection/create-executor.js';
import { loadConfig } from '../../config/config.js';
import { createMcpServer } from '../../mcp/server.js';
import { defaultRegistry } from '../../runtimes/registry.js';
import { SessionManager } from '../../sessions/session-manager.js';
import { backendType, positiveInt } from '../args.js';
import { reportErrors } from '../with-executor.js';

/**
 * `boxrun mcp`: a Model Context Protocol server on stdin/stdout. stdout carries only protocol
 * messages; anything else goes to stderr. Sessions live as long as this process.
 */
export function mcpCommand(): Command {
  return new Command('mcp')
    .description('serve boxrun as MCP tools over stdio (for Claude Desktop and other MCP clients)')
    .option('--max-sessions <n>', 'sessions at once', positiveInt, 8)
    .option('--executor <type>', 'run code on this backend instead of [executor] type', backendType)
    .action((opts) =>
      reportErrors(async () => {
        const configured = createExecutor(loadConfig(), opts.executor ? { type: opts.executor } : {});
        const { executor, config } = configured;
        const sessions = new SessionManager({
          config,
          engines: configured.engines,
          maxSessions: opts.maxSessions,
        });
        const server = createMcpServer({ executor, sessions, registry: defaultRegistry });
        let closing = false;
        const shutdown = async () => {
          if (closing) return;
          closing = true;
          await sessions.close().catch(() => {});
          await configured.close().catch(() => {});
          await server.close().catch(() => {});
          process.exit(0);
        };
        const transport = new StdioServerTransport();
        transport.onclose = () => void shutdown();
        process.stdin.once('end', () => void shutdown());
        process.once('SIGINT', () => void shutdown());
        process.once('SIGTERM', () => void shutdown());
        await server.connect(transport);
        process.stderr.write('boxrun mcp: ready on stdio\n');
      }),
    );
}
