import { Readable, Transform } from 'node:stream';

/** A stored object could not be found. */
export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No stored object at ${key}`);
    this.name = 'BlobNotFoundError';
  }
}

/**
 * The store could not do what was asked for a reason of its own (an object
 * store that is away, or that refuses these credentials): never a judgement on
 * the job, so a job meeting it is tried again.
 */
export class BlobStorageError extends Error {
  constructor(
    message: string,
    /** The HTTP status the store answered with, when it answered. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BlobStorageError';
  }
}

/**
 * The store cannot be used as configured (a bucket that is not there, access
 * refused): the message says what to change.
 */
export class StorageConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageConfigurationError';
  }
}

const KEY_PATTERN = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

/**
 * Refuses a key that is not slash-separated plain names (no `..`, `.`, empty or
 * absolute parts).
 */
export function checkStorageKey(key: string): void {
  if (
    !KEY_PATTERN.test(key) ||
    key.split('/').some((part) => part === '..' || part === '.')
  ) {
    throw new Error(`Invalid storage key: ${JSON.stringify(key)}`);
  }
}

/** What a writer knows of the bytes it stores. */
export interface PutOptions {
  /**
   * SHA-256 of the bytes, hex: a store that can check it on arrival does, and
   * keeps it with the object.
   */
  sha256?: string;
}

/** How a download link names what it serves. */
export interface DownloadUrlOptions {
  expiresInSeconds: number;
  contentType: string;
  contentDisposition: string;
}

/**
 * Where inputs and outputs live. Keys are slash-separated names such as
 * `uploads/<job id>`. A write is all-or-nothing: readers never see a partly
 * written object.
 */
export abstract class BlobStorage {
  /**
   * Stores the bytes under `key`, replacing what was there; returns the stored
   * size. A stream's bytes pass through `through` first (a check that may
   * refuse them, failing the put); the put takes charge of the stream from the
   * call on: its errors become the put's rejection, and it is destroyed if the
   * put fails.
   */
  abstract put(
    key: string,
    data: Buffer | Readable,
    through?: Transform,
  ): Promise<{ sizeBytes: number }>;
  /**
   * Stores the bytes under `key` only if nothing is stored there yet,
   * atomically: of writers racing for one key exactly one creates it, and an
   * object once stored never changes. `created` says whether these bytes were
   * stored; `sizeBytes` is the size of what is stored under the key (these
   * bytes, or the object that was there first).
   */
  abstract putIfAbsent(
    key: string,
    data: Buffer | Readable,
    options?: PutOptions,
  ): Promise<{ created: boolean; sizeBytes: number }>;
  abstract read(key: string): Promise<Buffer>;
  /**
   * The object's bytes as a stream, with its size and, where the store keeps
   * one, the SHA-256 (hex) it was stored with; `range` reads only bytes `start`
   * to `end`, both included.
   */
  abstract openReadStream(
    key: string,
    range?: { start: number; end: number },
  ): Promise<{ stream: Readable; sizeBytes: number; sha256: string | null }>;
  /** Size of the object, or null when there is none. */
  abstract sizeOf(key: string): Promise<number | null>;
  /**
   * A path on this machine where the object can be read directly, or null where
   * the store has none (an object store): readers that can take a path
   * (libvips) then skip a copy.
   */
  abstract localPath(key: string): string | null;
  /**
   * A short-lived URL that serves the object to whoever holds it, or null where
   * the store has none (a folder): large results then bypass the producer.
   */
  abstract downloadUrl(
    key: string,
    options: DownloadUrlOptions,
  ): Promise<string | null>;
  /**
   * Whether the store is a service of its own that can be away or refuse access
   * (an object store), which readiness then checks, rather than a folder of
   * this machine.
   */
  abstract readonly remote: boolean;
  /**
   * Checks that the store can be used as configured; fails with
   * StorageConfigurationError naming what to change (a bucket that is not
   * there, access refused), or with BlobStorageError while it cannot be
   * reached.
   */
  abstract probe(): Promise<void>;
  /** Releases connections; the store is not used afterwards. */
  abstract close(): Promise<void>;
  /** Removes the object; removing one that is not there is not an error. */
  abstract delete(key: string): Promise<void>;

  /**
   * Removes many objects at once (the retention sweep's batches): for each key,
   * in order, the size of the object removed, or null where there was none.
   */
  abstract deleteMany(keys: readonly string[]): Promise<Array<number | null>>;
}

/** Keys the pipeline stores under; one place decides the layout. */
export const StorageKeys = {
  upload: (jobId: string) => `uploads/${jobId}`,
  /**
   * One named output (`default`, or a variant's name) of one attempt of a job.
   * Attempts never share an object, so a retried job cannot change what an
   * earlier attempt recorded. The attempt is part of the folder's name
   * (`<job>.<attempt>`), not a folder of its own: jobs stored before this
   * layout have a file at `outputs/<job>` and may still be retried.
   */
  output: (jobId: string, attempt: number, name: string) => {
    if (!Number.isInteger(attempt) || attempt < 1)
      throw new Error(
        `Invalid attempt for an output key: ${attempt} (a whole number from 1)`,
      );
    return `outputs/${jobId}.${attempt}/${name}`;
  },
};
