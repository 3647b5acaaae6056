import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { coalesceWrites } from './coalesced-writes';

/**
 * A stream that records each call that reaches its sink: one entry per system
 * call it would make.
 */
function recordingStream(highWaterMark = 16 * 1024): {
  stream: Writable;
  calls: string[][];
} {
  const calls: string[][] = [];
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      calls.push([chunk.toString()]);
      setImmediate(callback);
    },
    writev(chunks, callback) {
      calls.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      setImmediate(callback);
    },
  });
  return { stream, calls };
}

describe('coalesceWrites', () => {
  it('hands the sink what one turn wrote in one call, and the next turn its own', async () => {
    const { stream, calls } = recordingStream();
    coalesceWrites(stream);
    for (const frame of ['method', 'header', 'body', 'ack'])
      stream.write(Buffer.from(frame));
    expect(calls).toEqual([]);
    await nextTurn();
    stream.write(Buffer.from('second turn'));
    await nextTurn();
    expect(calls).toEqual([
      ['method', 'header', 'body', 'ack'],
      ['second turn'],
    ]);
  });

  it('without it, each write would be its own call', async () => {
    const { stream, calls } = recordingStream();
    for (const frame of ['method', 'header', 'body'])
      stream.write(Buffer.from(frame));
    await nextTurn();
    await nextTurn();
    expect(calls.length).toBeGreaterThan(1);
  });

  it('still answers false past the high-water mark, and drains', async () => {
    const { stream, calls } = recordingStream(8);
    coalesceWrites(stream);
    expect(stream.write(Buffer.from('1234'))).toBe(true);
    expect(stream.write(Buffer.from('56789'))).toBe(false);
    await new Promise((resolve) => stream.once('drain', resolve));
    expect(calls.flat().join('')).toBe('123456789');
  });
});
