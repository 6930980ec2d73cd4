import { describe, expect, it } from 'vitest';
import { formatReport, KINDS, runSoak } from '../../bench/soak.js';

/**
 * `npm run soak` in a reduced size for CI (docs/reliability.md): the same service process, mix and
 * invariants — every execution has a final record, no sandbox of the run is left, the service's fds
 * and RSS stay within their bounds after the warm-up.
 */
describe('soak (reduced: 60 executions at concurrency 4)', () => {
  it('leaves no sandbox, loses no record and does not leak fds or memory', async () => {
    const report = await runSoak({ count: 60, concurrency: 4, deadlineMs: 110_000, log: () => {} });
    console.info(formatReport(report));
    expect(report.failures).toEqual([]);
    expect(report.sent).toBe(60);
    expect(report.records).toEqual({ listed: 60, done: 60, notDone: 0 });
    expect(report.containersLeft).toBe(0);
    expect(report.byHttpStatus).toEqual({ 200: 60 });
    // Every kind of outcome was exercised (each kind appears 6 times in 60).
    for (const verdict of new Set(KINDS.map((k) => k.expect))) {
      expect(report.byVerdict[verdict] ?? 0, verdict).toBeGreaterThan(0);
    }
  }, 150_000);
});
