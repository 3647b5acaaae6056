import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectCommandInput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import {
  BlobNotFoundError,
  BlobStorage,
  BlobStorageError,
  checkStorageKey,
  DownloadUrlOptions,
  PutOptions,
  StorageConfigurationError,
} from './blob-storage';
import { destroyedBeforeStored, locationToWrite } from './stream-input';

export interface S3StorageOptions {
  bucket: string;
  /** Put before every key: empty, or ending with a slash. */
  prefix: string;
  /**
   * `https://host:port` of an S3-compatible server; unset for AWS S3 (or the
   * SDK's AWS_ENDPOINT_URL_S3).
   */
  endpoint?: string;
  /**
   * Unset: the SDK's own chain (AWS_REGION, the profile); a server of one's own
   * takes any.
   */
  region?: string;
  /**
   * Unset: the SDK's default credential chain (environment, profile, IRSA,
   * instance role).
   */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /**
   * Buckets in the path (`host/bucket/key`) rather than the host name, for
   * servers without virtual-hosted buckets.
   */
  forcePathStyle?: boolean;
  /**
   * Longest wait for a connection, and for any sign of life on one, before the
   * SDK's retries take over.
   */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/**
 * Bytes a streamed upload sends per part once it is large enough to be sent in
 * parts (S3's least).
 */
const PART_BYTES = 5 * 1024 * 1024;
/**
 * Parts of one upload in flight at once: what bounds the memory an upload
 * holds.
 */
const PARTS_IN_FLIGHT = 2;
/** Most keys one DeleteObjects call takes. */
const DELETE_BATCH = 1000;
/** HEADs in flight at once while deleteMany sizes its objects. */
const HEAD_CONCURRENCY = 32;
/**
 * User metadata that carries the SHA-256 on servers that keep no checksum of
 * their own (Ceph RGW before 19).
 */
const SHA256_METADATA = 'sha256';

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata
    ?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as Error)?.name;
  return (
    name === 'NoSuchKey' ||
    name === 'NotFound' ||
    (statusOf(error) === 404 && name !== 'NoSuchBucket')
  );
}

function isPreconditionFailed(error: unknown): boolean {
  return (
    statusOf(error) === 412 || (error as Error)?.name === 'PreconditionFailed'
  );
}

/**
 * AWS answers 409 to a conditional write that raced another one for the key:
 * the race is decided, ask again.
 */
function isConditionalConflict(error: unknown): boolean {
  return (
    statusOf(error) === 409 &&
    (error as Error)?.name === 'ConditionalRequestConflict'
  );
}

const md5Base64 = (data: Buffer) =>
  createHash('md5').update(data).digest('base64');
const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

/**
 * Storage in a bucket of an S3-compatible object store (AWS S3, Ceph RGW, GCS's
 * interoperable API, SeaweedFS, Garage), for a pipeline spread over machines
 * with no shared folder. Objects are written whole or not at all (a PUT, or a
 * multipart upload completed only at its end and aborted on failure);
 * create-only writes are conditional (`If-None-Match: *`); transient errors are
 * retried by the SDK's standard retry mode, then surface as BlobStorageError
 * for the job retry ladder.
 */
export class S3BlobStorage extends BlobStorage {
  readonly remote = true;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  /** Where the bucket is, for error messages. */
  private readonly where: string;

  constructor(options: S3StorageOptions) {
    super();
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.where = `bucket "${options.bucket}" at ${options.endpoint ?? 'AWS S3'}`;
    this.client = new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      // A server of one's own answers in any region; AWS needs the bucket's,
      // from AWS_REGION or the profile.
      ...(options.region
        ? { region: options.region }
        : options.endpoint
          ? { region: 'us-east-1' }
          : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      retryMode: 'standard',
      maxAttempts: 3,
      // Checksums are sent where this store asks for them (see putIfAbsent),
      // not in the aws-chunked trailers the SDK adds by default, which
      // S3-compatible servers such as Ceph RGW 16 refuse.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? 5_000,
        requestTimeout: options.requestTimeoutMs ?? 30_000,
      },
    });
  }

  private objectKey(key: string): string {
    checkStorageKey(key);
    return this.prefix + key;
  }

  /**
   * An error of the store as BlobStorageError naming what was asked; one of
   * ours passes as it is.
   */
  private failure(action: string, key: string | null, error: unknown): Error {
    if (error instanceof BlobNotFoundError || error instanceof BlobStorageError)
      return error;
    const status = statusOf(error);
    const what =
      key === null ? `the ${this.where}` : `${key} in the ${this.where}`;
    const message = ((error as Error)?.message ?? String(error)).replace(
      /^AWS SDK error wrapper for /,
      '',
    );
    const reason =
      error instanceof S3ServiceException
        ? `${error.name}${status ? ` (HTTP ${status})` : ''}${message && message !== 'UnknownError' ? `: ${message}` : ''}`
        : message;
    return new BlobStorageError(
      `Object storage could not ${action} ${what}: ${reason}`,
      status,
      { cause: error },
    );
  }

  async put(
    key: string,
    data: Buffer | Readable,
    through?: Transform,
  ): Promise<{ sizeBytes: number }> {
    const objectKey = this.keyToWrite(key, data);
    if (Buffer.isBuffer(data)) {
      try {
        await this.putBuffer(objectKey, data, {});
      } catch (error) {
        throw this.failure('store', key, error);
      }
      return { sizeBytes: data.length };
    }
    return this.upload(key, objectKey, data, through, {});
  }

  async putIfAbsent(
    key: string,
    data: Buffer | Readable,
    options: PutOptions = {},
  ): Promise<{ created: boolean; sizeBytes: number }> {
    const objectKey = this.keyToWrite(key, data);
    const checksum = options.sha256
      ? {
          ChecksumSHA256: hexToBase64(options.sha256),
          Metadata: { [SHA256_METADATA]: options.sha256 },
        }
      : {};
    for (;;) {
      try {
        if (!Buffer.isBuffer(data))
          return {
            created: true,
            ...(await this.upload(key, objectKey, data, undefined, {
              IfNoneMatch: '*',
              ...(options.sha256 ? { Metadata: checksum.Metadata } : {}),
            })),
          };
        try {
          await this.putBuffer(objectKey, data, {
            IfNoneMatch: '*',
            ...checksum,
          });
        } catch (error) {
          if (isConditionalConflict(error)) continue;
          throw isPreconditionFailed(error)
            ? error
            : this.failure('store', key, error);
        }
        return { created: true, sizeBytes: data.length };
      } catch (error) {
        if (!isPreconditionFailed(error)) throw error;
      }
      const size = await this.sizeOf(key);
      if (size !== null) return { created: false, sizeBytes: size };
      // Removed again between the refused write and the HEAD: a Buffer is tried
      // once more.
      if (!Buffer.isBuffer(data))
        throw new BlobStorageError(
          `Object storage refused to create ${key} in the ${this.where} as it existed, and then it did not`,
        );
    }
  }

  /** One PUT of the whole buffer, its MD5 checked by the store. */
  private async putBuffer(
    objectKey: string,
    data: Buffer,
    conditions: Partial<PutObjectCommandInput>,
  ): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: objectKey,
        Body: data,
        ContentLength: data.length,
        ContentMD5: md5Base64(data),
        ...conditions,
      }),
    );
  }

  private keyToWrite(key: string, data: Buffer | Readable): string {
    return locationToWrite(key, data, (valid) => this.objectKey(valid));
  }

  /**
   * Streams `data` (through `through`) to the object: one PUT when it is small,
   * a multipart upload of PART_BYTES parts otherwise, holding at most
   * PARTS_IN_FLIGHT parts in memory. The stream's own error is the rejection; a
   * failed upload is aborted, leaving no parts behind.
   */
  private async upload(
    key: string,
    objectKey: string,
    data: Readable,
    through: Transform | undefined,
    params: { IfNoneMatch?: string; Metadata?: Record<string, string> },
  ): Promise<{ sizeBytes: number }> {
    if (data.destroyed) throw destroyedBeforeStored(data, through);
    let sizeBytes = 0;
    let streamError: Error | undefined;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sizeBytes += chunk.length;
        callback(null, chunk);
      },
    });
    // Joined in this call's first, synchronous step: an error the stream emits
    // from now on is this call's rejection.
    const streamDone = new Promise<void>((resolve) =>
      pipeline([data, ...(through ? [through] : []), counted], (error) => {
        if (error) streamError = error;
        resolve();
      }),
    );
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: objectKey, Body: counted, ...params },
      partSize: PART_BYTES,
      queueSize: PARTS_IN_FLIGHT,
    });
    try {
      await upload.done();
    } catch (error) {
      data.destroy();
      await streamDone;
      throw (
        streamError ??
        (isPreconditionFailed(error)
          ? error
          : this.failure('store', key, error))
      );
    }
    await streamDone;
    if (streamError) throw streamError;
    return { sizeBytes };
  }

  async read(key: string): Promise<Buffer> {
    const { stream } = await this.openReadStream(key);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (error) {
      throw this.failure('read', key, error);
    }
    return Buffer.concat(chunks);
  }

  async openReadStream(
    key: string,
    range?: { start: number; end: number },
  ): Promise<{ stream: Readable; sizeBytes: number; sha256: string | null }> {
    const objectKey = this.objectKey(key);
    try {
      const answer = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      const total = answer.ContentRange
        ? Number(answer.ContentRange.split('/')[1])
        : answer.ContentLength;
      return {
        stream: answer.Body as Readable,
        sizeBytes: total ?? 0,
        sha256: answer.Metadata?.[SHA256_METADATA] ?? null,
      };
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key);
      throw this.failure('read', key, error);
    }
  }

  async sizeOf(key: string): Promise<number | null> {
    const objectKey = this.objectKey(key);
    try {
      const answer = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }),
      );
      return answer.ContentLength ?? 0;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw this.failure('look up', key, error);
    }
  }

  localPath(): null {
    return null;
  }

  async downloadUrl(key: string, options: DownloadUrlOptions): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(key),
      ResponseContentType: options.contentType,
      ResponseContentDisposition: options.contentDisposition,
    });
    return getSignedUrl(this.client, command, {
      expiresIn: options.expiresInSeconds,
    });
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }),
      );
    } catch (error) {
      if (isNotFound(error)) return;
      throw this.failure('delete', key, error);
    }
  }

  /**
   * DeleteObjects says "deleted" of a key that was not there too, so each
   * object is sized by a HEAD first; only those found are deleted, up to a
   * thousand per call. Every key is checked before anything is removed.
   */
  async deleteMany(keys: readonly string[]): Promise<Array<number | null>> {
    const objectKeys = keys.map((key) => this.objectKey(key));
    const sizes = Array.from(
      { length: keys.length },
      (): number | null => null,
    );
    for (let start = 0; start < keys.length; start += HEAD_CONCURRENCY) {
      const sized = await Promise.all(
        keys
          .slice(start, start + HEAD_CONCURRENCY)
          .map((key) => this.sizeOf(key)),
      );
      sized.forEach((size, offset) => (sizes[start + offset] = size));
    }
    const present = objectKeys.filter((_key, index) => sizes[index] !== null);
    for (let start = 0; start < present.length; start += DELETE_BATCH) {
      const batch = present.slice(start, start + DELETE_BATCH);
      let answer;
      try {
        answer = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
      } catch (error) {
        throw this.failure(`delete ${batch.length} objects from`, null, error);
      }
      const failed = (answer.Errors ?? []).filter(
        (entry) => entry.Code !== 'NoSuchKey',
      );
      if (failed.length > 0) {
        const first = failed[0];
        throw new BlobStorageError(
          `Object storage could not delete ${failed.length} of ${batch.length} objects from ${this.where}, ${first.Key} first: ${first.Code}: ${first.Message}`,
        );
      }
    }
    return sizes;
  }

  /**
   * The bucket is there and these credentials may use it (HeadBucket needs
   * s3:ListBucket).
   */
  async probe(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const status = statusOf(error);
      const name = (error as Error)?.name;
      if (status === 404 || name === 'NoSuchBucket')
        throw new StorageConfigurationError(
          `The ${this.where} does not exist: create it, or correct the bucket in STORAGE_URL`,
        );
      if (status === 403) {
        throw new StorageConfigurationError(
          `Access to the ${this.where} is denied (HTTP 403): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the role the SDK's default chain finds, such as IRSA's) and the bucket's policy (s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject)`,
        );
      }
      if (status === 301 || status === 400)
        throw new StorageConfigurationError(
          `The ${this.where} answered HTTP ${status} (${name}): it is probably in another region than AWS_REGION says`,
        );
      if (name === 'CredentialsProviderError') {
        throw new StorageConfigurationError(
          `No credentials for the ${this.where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the process a role (IRSA, workload identity, an instance profile)`,
        );
      }
      throw this.failure('reach', null, error);
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}
