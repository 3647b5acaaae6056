import { Readable, Transform } from 'node:stream';

/**
 * The storage location `locate` gives for `key`; for an invalid key the stream
 * to store is destroyed, so that its producer is not left waiting.
 */
export function locationToWrite(
  key: string,
  data: Buffer | Readable,
  locate: (key: string) => string,
): string {
  try {
    return locate(key);
  } catch (error) {
    if (!Buffer.isBuffer(data)) data.destroy();
    throw error;
  }
}

/**
 * The error a stream destroyed before it could be stored is refused with; the
 * transform meant to follow it is destroyed too, as pipeline() would never
 * settle for such a source with a transform after it.
 */
export function destroyedBeforeStored(
  data: Readable,
  through: Transform | undefined,
): Error {
  through?.destroy();
  return (
    data.errored ??
    Object.assign(
      new Error(
        'Premature close: the stream was destroyed before it could be stored',
      ),
      { code: 'ERR_STREAM_PREMATURE_CLOSE' },
    )
  );
}
