#!/usr/bin/env node
import { Command } from 'commander';
import { BOXRUN_VERSION } from '../core/version.js';
import { clusterCommand } from './commands/cluster.js';
import { configCommand } from './commands/config.js';
import { doctorCommand } from './commands/doctor.js';
import { imagesCommand } from './commands/images.js';
import { mcpCommand } from './commands/mcp.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { setupCommand } from './commands/setup.js';
import { testCommand } from './commands/test.js';
import { errorLine, exitCodeForError } from './exit-codes.js';

const program = new Command()
  .name('boxrun')
  .description('Run untrusted code in a locked-down container and report exactly what happened.')
  .version(BOXRUN_VERSION)
  .showHelpAfterError();

for (const command of [
  runCommand(),
  setupCommand(),
  doctorCommand(),
  imagesCommand(),
  configCommand(),
  mcpCommand(),
  testCommand(),
  serveCommand(),
  clusterCommand(),
]) {
  program.addCommand(command);
}

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`${errorLine(error)}\n`);
  process.exit(exitCodeForError(error));
});
