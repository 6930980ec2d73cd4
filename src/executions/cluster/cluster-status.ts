import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAME } from './bullmq-job-queue.js';
import { WORKERS_PREFIX, type WorkerHeartbeat } from './cluster-worker.js';

export interface ClusterStatus {
  workers: WorkerHeartbeat[];
  queue: { waiting: number; running: number; delayed: number; failed: number };
}

/** The workers whose heartbeat has not expired, and the queue's depth, read from Redis. */
export async function readClusterStatus(redisUrl: string): Promise<ClusterStatus> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  const queue = new Queue(QUEUE_NAME, {
    connection: { url: redisUrl, maxRetriesPerRequest: 1 },
    prefix: 'boxrun',
  });
  try {
    await redis.connect();
    const workers: WorkerHeartbeat[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${WORKERS_PREFIX}*`, 'COUNT', 100);
      cursor = next;
      const values = keys.length ? await redis.mget(...keys) : [];
      for (const v of values) if (v) workers.push(JSON.parse(v) as WorkerHeartbeat);
    } while (cursor !== '0');
    workers.sort((a, b) => a.id.localeCompare(b.id));
    const c = await queue.getJobCounts('wait', 'prioritized', 'active', 'delayed', 'failed');
    return {
      workers,
      queue: {
        waiting: (c.wait ?? 0) + (c.prioritized ?? 0),
        running: c.active ?? 0,
        delayed: c.delayed ?? 0,
        failed: c.failed ?? 0,
      },
    };
  } finally {
    await queue.close().catch(() => {});
    redis.disconnect();
  }
}
