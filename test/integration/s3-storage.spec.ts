import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  BlobStorageError,
  S3BlobStorage,
  sha256Hex,
  StorageConfigurationError,
} from '@pipeline/storage';
import { randomUUID } from 'node:crypto';
import { blobStorageContract, readAll } from '../support/blob-storage-contract';
import { CephRgw, freePort } from '../support/ceph-rgw';

/**
 * The object store against a real S3 server: a Ceph RGW of the test's own. Each
 * test gets a prefix of its own in one bucket, and "leftovers" lists both the
 * objects under it and any multipart upload left unfinished there.
 */
describe('S3BlobStorage against Ceph RGW', () => {
  let rgw: CephRgw;
  let admin: S3Client;
  const bucket = 'pipeline-contract';
  let prefix: string;
  let storage: S3BlobStorage;

  const options = () => ({
    bucket,
    endpoint: rgw.s3.endpoint,
    region: rgw.s3.region,
    credentials: {
      accessKeyId: rgw.s3.accessKeyId,
      secretAccessKey: rgw.s3.secretAccessKey,
    },
    forcePathStyle: true,
  });

  beforeAll(async () => {
    rgw = await CephRgw.shared();
    admin = new S3Client({
      ...options(),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  }, 180_000);

  afterAll(async () => {
    admin?.destroy();
    await rgw?.stop();
  });

  beforeEach(() => {
    prefix = `run-${randomUUID()}/`;
    storage = new S3BlobStorage({ ...options(), prefix });
  });

  afterEach(async () => {
    await storage.close();
  });

  async function leftovers(): Promise<string[]> {
    const objects = await admin.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }),
    );
    const uploads = await admin.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }),
    );
    return [
      ...(objects.Contents ?? []).map((object) =>
        object.Key!.slice(prefix.length),
      ),
      ...(uploads.Uploads ?? []).map(
        (upload) =>
          `${upload.Key!.slice(prefix.length)} (unfinished multipart upload)`,
      ),
    ].sort();
  }

  blobStorageContract('S3BlobStorage (Ceph RGW)', () => ({
    storage,
    leftovers,
  }));

  it('keeps objects under its prefix, and keeps the checksum it was given with the object', async () => {
    const data = Buffer.from('an output');
    await storage.putIfAbsent('outputs/j.1/default', data, {
      sha256: sha256Hex(data),
    });
    const listed = await admin.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }),
    );
    expect(listed.Contents?.map((object) => object.Key)).toEqual([
      `${prefix}outputs/j.1/default`,
    ]);
    const { stream, sha256 } = await storage.openReadStream(
      'outputs/j.1/default',
    );
    expect(await readAll(stream)).toEqual(data);
    expect(sha256).toBe(sha256Hex(data));
    expect(storage.localPath()).toBeNull();
  });

  it('hands out a presigned link that serves the object, named and typed, to a client with no credentials', async () => {
    const data = Buffer.from('the result bytes');
    await storage.put('outputs/j.1/default', data);
    const url = await storage.downloadUrl('outputs/j.1/default', {
      expiresInSeconds: 60,
      contentType: 'image/webp',
      contentDisposition: 'inline; filename="j.webp"',
    });
    const answer = await fetch(url);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('image/webp');
    expect(answer.headers.get('content-disposition')).toBe(
      'inline; filename="j.webp"',
    );
    expect(Buffer.from(await answer.arrayBuffer())).toEqual(data);
    // Signed for that object only.
    expect(
      (await fetch(url.replace('outputs/j.1/default', 'outputs/j.1/other')))
        .status,
    ).toBe(403);
  });

  it('finds an object another writer stored under its key (a redelivered job sees the earlier output with a HEAD)', async () => {
    await admin.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${prefix}outputs/j.1/default`,
        Body: Buffer.from('written elsewhere'),
      }),
    );
    expect(await storage.sizeOf('outputs/j.1/default')).toBe(17);
    expect(
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('redone')),
    ).toEqual({ created: false, sizeBytes: 17 });
  });

  describe('probe (start-up and readiness)', () => {
    it('passes for a bucket that is there and credentials that may use it', async () => {
      await expect(storage.probe()).resolves.toBeUndefined();
      expect(storage.remote).toBe(true);
    });

    it('names a bucket that does not exist', async () => {
      const missing = new S3BlobStorage({
        ...options(),
        bucket: 'no-such-bucket',
        prefix: '',
      });
      const error = await missing.probe().catch((caught: unknown) => caught);
      await missing.close();
      expect(error).toBeInstanceOf(StorageConfigurationError);
      expect((error as Error).message).toBe(
        `The bucket "no-such-bucket" at ${rgw.s3.endpoint} does not exist: create it, or correct the bucket in STORAGE_URL`,
      );
    });

    it('names refused credentials', async () => {
      const refused = new S3BlobStorage({
        ...options(),
        credentials: {
          accessKeyId: rgw.s3.accessKeyId,
          secretAccessKey: 'not-the-secret',
        },
        prefix: '',
      });
      const error = await refused.probe().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StorageConfigurationError);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^Access to the bucket "${bucket}" at ${rgw.s3.endpoint} is denied \\(HTTP 403\\): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
        ),
      );
      // Work on objects fails as the store's error, which the job retry ladder
      // takes as transient.
      const write = await refused
        .put('outputs/x', Buffer.from('x'))
        .catch((caught: unknown) => caught);
      await refused.close();
      expect(write).toBeInstanceOf(BlobStorageError);
      expect((write as BlobStorageError).status).toBe(403);
    });

    it('says the store cannot be reached, after the SDK retried, when nothing answers at the endpoint', async () => {
      const port = await freePort();
      const away = new S3BlobStorage({
        ...options(),
        endpoint: `http://127.0.0.1:${port}`,
        prefix: '',
      });
      const started = Date.now();
      const error = await away.probe().catch((caught: unknown) => caught);
      const write = await away
        .putIfAbsent('outputs/x', Buffer.from('x'))
        .catch((caught: unknown) => caught);
      await away.close();
      expect(error).toBeInstanceOf(BlobStorageError);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^Object storage could not reach the bucket "${bucket}" at http://127.0.0.1:${port}: .*ECONNREFUSED`,
        ),
      );
      expect(write).toBeInstanceOf(BlobStorageError);
      expect(
        (
          (write as BlobStorageError).cause as {
            $metadata?: { attempts?: number };
          }
        ).$metadata?.attempts,
      ).toBe(3);
      expect(Date.now() - started).toBeLessThan(20_000);
    });
  });
});
