import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** SHA-256 of bytes, hex: how the pipeline records an output's checksum. */
export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Stored bytes that are not the bytes recorded for them: changed or damaged
 * since they were written.
 */
export class ChecksumMismatchError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `The object stored at ${key} does not match the checksum recorded for it (SHA-256 ${actual}, recorded ${expected}): it changed or was damaged after it was written`,
    );
    this.name = 'ChecksumMismatchError';
  }
}

/**
 * Passes the bytes through unchanged and fails at their end, with
 * ChecksumMismatchError, if their SHA-256 is not `expected` (hex). The last
 * chunk is held back until the checksum is known: a client reading a damaged
 * copy never receives all of it (a response with a Content-Length is then
 * visibly cut short), however the failure is reported.
 */
export function verifyingSha256(key: string, expected: string): Transform {
  const hash = createHash('sha256');
  let held: Buffer | null = null;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      const previous = held;
      held = chunk;
      callback(null, previous ?? undefined);
    },
    flush(callback) {
      const actual = hash.digest('hex');
      if (actual !== expected.toLowerCase())
        return callback(new ChecksumMismatchError(key, expected, actual));
      callback(null, held ?? undefined);
    },
  });
}
