import { describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../store/execution-store.js';
import { InProcessLiveEvents, type LiveEvent } from './live-events.js';

const record = { id: 'x', state: 'done' } as ExecutionRecord;
const out = (data: string): LiveEvent => ({ type: 'output', stream: 'stdout', data: Buffer.from(data) });

describe('InProcessLiveEvents', () => {
  it('replays what happened before a subscription, then delivers the rest, and ends at done', async () => {
    const errors: unknown[] = [];
    const events = new InProcessLiveEvents((e) => errors.push(e));
    expect(events.subscribe('x', () => {})).toBeNull();
    events.open('x');
    const completion = events.completion('x');
    events.publish('x', { type: 'status', status: 'running' });
    events.publish('x', out('a'));
    const seen: string[] = [];
    const sub = events.subscribe('x', (e) => seen.push(e.type));
    expect(sub?.replay.map((e) => e.type)).toEqual(['status', 'output']);
    events.subscribe('x', () => {
      throw new Error('listener bug');
    });
    events.publish('x', out('b'));
    events.publish('x', { type: 'done', record });
    expect(seen).toEqual(['output', 'done']);
    expect(errors).toHaveLength(2);
    await expect(completion).resolves.toEqual({ record, output: Buffer.from('ab') });
    expect(events.isOpen('x')).toBe(false);
    expect(events.completion('x')).toBeNull();
  });

  it('rejects waiters with the reason when the stream closes without a result', async () => {
    const events = new InProcessLiveEvents(() => {});
    events.open('y');
    const completion = events.completion('y');
    const reason = new Error('shutting down');
    events.publish('y', { type: 'closing', error: reason });
    await expect(completion).rejects.toBe(reason);
  });
});
