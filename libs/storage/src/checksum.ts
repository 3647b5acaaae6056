import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** SHA-256 of bytes, hex: how the pipeline records an output's checksum. */
export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Stored bytes that are not the bytes recorded for them: changed or damaged since they were written. */
export class ChecksumMismatchError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`The object stored at ${key} does not match the checksum recorded for it (SHA-256 ${actual}, recorded ${expected}): it changed or was damaged after it was written`);
    this.name = 'ChecksumMismatchError';
  }
}

/**
 * Passes the bytes through unchanged and fails at their end, with ChecksumMismatchError, if
 * their SHA-256 is not `expected` (hex): a reader that streams them on learns it before the
 * last byte, and can break off rather than finish a damaged copy.
 */
export function verifyingSha256(key: string, expected: string): Transform {
  const hash = createHash('sha256');
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const actual = hash.digest('hex');
      callback(actual === expected.toLowerCase() ? null : new ChecksumMismatchError(key, expected, actual));
    },
  });
}
