// A BullMQ consumer in its own process, for tests that SIGKILL it mid-job: it prints
// `started <id>` when it takes a job and never finishes one.
import { BullmqJobConsumer } from '../../src/executions/cluster/bullmq-job-queue.js';

const consumer = new BullmqJobConsumer({
  redisUrl: process.env.REDIS_URL!,
  concurrency: 1,
  lockDurationMs: Number(process.env.LOCK_MS ?? 2000),
  stalledIntervalMs: Number(process.env.LOCK_MS ?? 2000),
  maxStalledCount: 1,
  run: (job) => {
    process.stdout.write(`started ${job.id}\n`);
    return new Promise(() => {});
  },
  onGaveUp: async () => {},
  onError: (error) => process.stderr.write(`${String(error)}\n`),
});
process.on('SIGTERM', () => void consumer.close().then(() => process.exit(0)));
