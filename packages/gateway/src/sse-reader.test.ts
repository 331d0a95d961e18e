import { readSseEvents } from './sse-reader';
import { UpstreamError } from './errors';

async function collect(chunks: string[], max = 1_000) {
  const out = [];
  for await (const e of readSseEvents((async function* () { yield* chunks.map((c) => Buffer.from(c)); })(), max)) out.push(e);
  return out;
}

describe('upstream SSE reader', () => {
  test('events split across chunks, CRLF and LF, multi-line data, comments, ids and event names', async () => {
    const events = await collect([': hi\r\nid: a1\r\nevent: message\r\nda', 'ta: {"x":1}\r\n\r\ndata: line1\ndata: line2\n\nevent: endpoint\ndata: /m?s=1\n\n']);
    expect(events).toEqual([
      { event: 'message', data: '{"x":1}', id: 'a1' },
      { event: 'message', data: 'line1\nline2', id: 'a1' },
      { event: 'endpoint', data: '/m?s=1', id: 'a1' },
    ]);
  });

  test('an event or an unterminated line past the limit fails with too_large', async () => {
    await expect(collect([`data: ${'x'.repeat(600)}\ndata: ${'y'.repeat(600)}\n\n`])).rejects.toMatchObject({ kind: 'too_large' });
    await expect(collect(['data: ', 'z'.repeat(2_000)])).rejects.toBeInstanceOf(UpstreamError);
  });
});
