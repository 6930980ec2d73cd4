import { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { EXIT_UNAVAILABLE, EXIT_USAGE } from '../exit-codes.js';

/** `boxrun cluster status`: the workers' heartbeats and the queue depth, from the cluster's Redis. */
export function clusterCommand(): Command {
  const cluster = new Command('cluster').description('inspect a boxrun cluster (docs/cluster.md)');
  cluster
    .command('status')
    .description('list workers (engine, load, pool, version, last heartbeat) and the queue depth')
    .option('--redis <url>', 'the cluster Redis (cluster.redis, BOXRUN_CLUSTER_REDIS)')
    .option('--json', 'print JSON')
    .action(async (opts: { redis?: string; json?: boolean }) => {
      const redisUrl = opts.redis ?? loadConfig().cluster.redis;
      if (!redisUrl) {
        process.stderr.write('boxrun: no Redis: pass --redis or set cluster.redis (BOXRUN_CLUSTER_REDIS)\n');
        process.exit(EXIT_USAGE);
      }
      // Loaded here only: a single-process install never needs BullMQ.
      const { readClusterStatus } = await import('../../executions/cluster/cluster-status.js');
      let status: Awaited<ReturnType<typeof readClusterStatus>>;
      try {
        status = await readClusterStatus(redisUrl);
      } catch (error) {
        process.stderr.write(
          `boxrun: cannot read the cluster from ${redisUrl}: ${(error as Error).message}\n`,
        );
        process.exit(EXIT_UNAVAILABLE);
      }
      if (opts.json) {
        console.log(JSON.stringify(status, null, 2));
        return;
      }
      const q = status.queue;
      console.log(
        `queue: ${q.waiting} waiting, ${q.running} running, ${q.delayed} delayed, ${q.failed} failed`,
      );
      console.log(`workers: ${status.workers.length}`);
      for (const w of status.workers) {
        const age = ((Date.now() - w.at) / 1000).toFixed(1);
        console.log(
          `  ${w.id.padEnd(28)} ${w.host.padEnd(16)} engine ${w.engine}  running ${w.running}/${w.max}  pool ${w.pool ?? '-'}  v${w.version}  heartbeat ${age}s ago`,
        );
      }
    });
  return cluster;
}
