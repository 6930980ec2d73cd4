import type { ExecutionRecord } from '../store/execution-store.js';

/** The public face of a record: what GET, lists, webhooks and SSE return. */
export function executionView(record: ExecutionRecord, extra: Record<string, unknown> = {}) {
  const verdict = record.result
    ? record.result.status
    : record.error
      ? record.error.code === 'CANCELED'
        ? 'canceled'
        : 'error'
      : null;
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: record.id,
    status: record.state,
    verdict,
    runtime: record.runtime,
    caller: record.caller,
    batchId: record.batchId,
    attempts: record.attempts,
    createdAt: iso(record.createdAt)!,
    startedAt: iso(record.startedAt),
    finishedAt: iso(record.finishedAt),
    queueWaitMs: record.startedAt === null ? null : record.startedAt - record.createdAt,
    result: record.result,
    error: record.error,
    ...extra,
  };
}
