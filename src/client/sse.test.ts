import { describe, expect, it } from 'vitest';
import { readServerSentEvents } from './sse.js';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function collect(chunks: string[]) {
  const events = [];
  for await (const event of readServerSentEvents(streamOf(chunks))) events.push(event);
  return events;
}

describe('readServerSentEvents', () => {
  it('reassembles events split anywhere across chunks', async () => {
    const text = 'id: 1\nevent: stdout\ndata: {"data":"hi"}\n\n: keepalive\n\nevent: result\ndata: {}\n\n';
    const events = await collect([text.slice(0, 3), text.slice(3, 17), text.slice(17, 40), text.slice(40)]);
    expect(events).toEqual([
      { event: 'stdout', data: '{"data":"hi"}', id: '1' },
      { event: 'result', data: '{}', id: '1' },
    ]);
  });

  it('joins multi-line data, accepts CRLF and skips comments', async () => {
    const events = await collect(['event: x\r\ndata: a\r\ndata: b\r\n\r\n:comment\n\ndata: c\n\n']);
    expect(events).toEqual([
      { event: 'x', data: 'a\nb', id: undefined },
      { event: 'message', data: 'c', id: undefined },
    ]);
  });

  it('keeps UTF-8 characters whole when their bytes arrive in separate chunks', async () => {
    const bytes = new TextEncoder().encode('data: \u{1F600}\n\n');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(Uint8Array.of(byte));
        controller.close();
      },
    });
    const events = [];
    for await (const event of readServerSentEvents(stream)) events.push(event.data);
    expect(events).toEqual(['\u{1F600}']);
  });
});
