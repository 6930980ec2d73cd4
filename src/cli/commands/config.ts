import { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { reportErrors } from '../with-executor.js';

/** `boxrun config print`: the effective configuration (file, BOXRUN_* env and defaults merged). */
export function configCommand(): Command {
  const config = new Command('config').description('configuration');
  config
    .command('print')
    .description('print the effective configuration')
    .action(() =>
      reportErrors(() => {
        console.log(JSON.stringify(loadConfig(), null, 2));
      }),
    );
  return config;
}
