import { describe, expect, it } from 'vitest';
import { encodeFrame, encodeJob, FrameDecoder } from './protocol.js';

describe('supervisor protocol', () => {
  it('decodes frames split at any byte boundary', () => {
    const bytes = Buffer.concat([
      encodeFrame('S'),
      encodeFrame('o', 'hello'),
      encodeFrame('f', Buffer.concat([Buffer.from([0, 0, 1, 0xed]), Buffer.from('out/a.txt\0data')])),
      encodeFrame('x', 'link\0symbolic link'),
      encodeFrame('r', JSON.stringify({ exitCode: 0, signal: 0 })),
    ]);
    for (let split = 1; split < bytes.length; split++) {
      const d = new FrameDecoder(1024);
      const events = [...d.push(bytes.subarray(0, split)), ...d.push(bytes.subarray(split))];
      expect(events.map((e) => e.type)).toEqual(['started', 'stdout', 'file', 'refused', 'result']);
      const file = events[2];
      expect(file?.type === 'file' && file.path === 'out/a.txt' && file.mode === 0o755).toBe(true);
    }
  });

  it('refuses a frame larger than the limit', () => {
    const d = new FrameDecoder(4);
    expect(() => d.push(encodeFrame('o', 'too long'))).toThrow(/exceeds/);
  });

  it('encodes stdin in chunks and ends with EOF and run', () => {
    const frames = encodeJob({
      files: [],
      argv: ['cat'],
      env: {},
      limits: { timeout_ms: 1000 },
      outputPatterns: [],
      stdin: Buffer.alloc(150 * 1024, 1),
    });
    const types = frames.map((f) => String.fromCharCode(f[0] ?? 0));
    expect(types).toEqual(['L', 'A', 'I', 'I', 'I', 'i', 'R']);
  });
});
