import { Readable, Transform } from 'node:stream';

/** A stored object could not be found. */
export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No stored object at ${key}`);
    this.name = 'BlobNotFoundError';
  }
}

/**
 * Where inputs and outputs live. Keys are slash-separated names such as `uploads/<job id>`.
 * A write is all-or-nothing: readers never see a partly written object.
 */
export abstract class BlobStorage {
  /**
   * Stores the bytes under `key`, replacing what was there; returns the stored size. A stream's
   * bytes pass through `through` first (a check that may refuse them, failing the put); the put
   * takes charge of the stream from the call on: its errors become the put's rejection, and it
   * is destroyed if the put fails.
   */
  abstract put(key: string, data: Buffer | Readable, through?: Transform): Promise<{ sizeBytes: number }>;
  /**
   * Stores the bytes under `key` only if nothing is stored there yet, atomically: of writers
   * racing for one key exactly one creates it, and an object once stored never changes.
   * `created` says whether these bytes were stored; `sizeBytes` is the size of what is stored
   * under the key (these bytes, or the object that was there first).
   */
  abstract putIfAbsent(key: string, data: Buffer | Readable): Promise<{ created: boolean; sizeBytes: number }>;
  abstract read(key: string): Promise<Buffer>;
  abstract openReadStream(key: string): Promise<{ stream: Readable; sizeBytes: number }>;
  /** Size of the object, or null when there is none. */
  abstract sizeOf(key: string): Promise<number | null>;
  /**
   * A path on this machine where the object can be read directly, or null where the store
   * has none (an object store): readers that can take a path (libvips) then skip a copy.
   */
  abstract localPath(key: string): string | null;
  /** Removes the object; removing one that is not there is not an error. */
  abstract delete(key: string): Promise<void>;

  /**
   * Removes many objects at once (the retention sweep's batches): for each key, in order, the
   * size of the object removed, or null where there was none.
   */
  abstract deleteMany(keys: readonly string[]): Promise<Array<number | null>>;
}

/** Keys the pipeline stores under; one place decides the layout. */
export const StorageKeys = {
  upload: (jobId: string) => `uploads/${jobId}`,
  /**
   * One named output (`default`, or a variant's name) of one attempt of a job. Attempts never
   * share an object, so a retried job cannot change what an earlier attempt recorded. The
   * attempt is part of the folder's name (`<job>.<attempt>`), not a folder of its own: jobs
   * stored before this layout have a file at `outputs/<job>` and may still be retried.
   */
  output: (jobId: string, attempt: number, name: string) => {
    if (!Number.isInteger(attempt) || attempt < 1) throw new Error(`Invalid attempt for an output key: ${attempt} (a whole number from 1)`);
    return `outputs/${jobId}.${attempt}/${name}`;
  },
};
