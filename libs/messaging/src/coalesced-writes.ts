import { Writable } from 'node:stream';

/**
 * Makes everything written to `stream` in one turn of the event loop go out in
 * one system call. amqplib writes each frame (a publish is three, an ack one)
 * with its own socket write; under load that is several writes per message,
 * most of a busy consumer's time in the kernel. Corking on the first write of a
 * turn and uncorking on the next tick hands the socket one writev of them all.
 * A write still answers false past the stream's high-water mark, so amqplib's
 * back-pressure (waiting for 'drain') works as before.
 */
export function coalesceWrites(stream: Writable): void {
  const write = stream.write.bind(stream);
  const uncork = () => stream.uncork();
  stream.write = function (
    this: Writable,
    ...args: Parameters<Writable['write']>
  ): boolean {
    if (this.writableCorked === 0 && !this.destroyed) {
      this.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  } as Writable['write'];
}
