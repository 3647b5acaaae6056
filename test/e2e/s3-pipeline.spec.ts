import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { JobView } from '@pipeline/contracts';
import { Topology } from '@pipeline/messaging';
import { MetricsServer } from '@pipeline/metrics';
import { sha256Hex } from '@pipeline/storage';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { Pool } from 'pg';
import sharp from 'sharp';
import { startProducer } from '../../apps/producer/src/producer.app';
import { adminFetch, TEST_ADMIN_KEY } from '../support/api-keys';
import { CephRgw } from '../support/ceph-rgw';
import { makeImage } from '../support/images';
import { producerTestConfig } from '../support/producer-config';
import {
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';
import { RunningStack, startStack } from '../support/stack';
import { freePortBlock } from '../support/ports';
import { STACK_PORTS } from '../support/stack';

/**
 * The whole product with its blobs in a bucket of a real Ceph RGW, and no
 * shared folder: `npm start`'s launcher runs the built producer, two workers
 * and the writer as separate processes with STORAGE_URL=s3://…; their
 * STORAGE_DIR is a path that must never appear.
 */
describe('pipeline end to end with S3 storage on Ceph RGW (separate processes, no shared folder)', () => {
  const prefix = uniqueName('e2es3');
  const bucket = 'pipeline-e2e';
  const keyPrefix = 'e2e/';
  let rgw: CephRgw;
  let s3: S3Client;
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let stack: RunningStack | undefined;
  let pool: Pool;
  let storageEnv: Record<string, string>;
  let noFolder: string;

  beforeAll(async () => {
    rgw = await CephRgw.shared();
    s3 = new S3Client({
      endpoint: rgw.s3.endpoint,
      region: rgw.s3.region,
      forcePathStyle: true,
      credentials: {
        accessKeyId: rgw.s3.accessKeyId,
        secretAccessKey: rgw.s3.secretAccessKey,
      },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    noFolder = join(folder.path, 'no-shared-storage');
    storageEnv = {
      STORAGE_URL: `s3://${bucket}/${keyPrefix}`,
      STORAGE_DIR: noFolder,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ENDPOINT_URL_S3: rgw.s3.endpoint,
      AWS_REGION: rgw.s3.region,
      AWS_ACCESS_KEY_ID: rgw.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: rgw.s3.secretAccessKey,
    };
    stack = await startStack(
      {
        AMQP_PREFIX: prefix,
        WORKERS: '2',
        DATABASE_URL: database.url,
        IMAGES_DIR: join(folder.path, 'images'),
        ...storageEnv,
        // Uploads go soon after their job finished, so that the sweep's
        // DeleteObjects is seen at work.
        RETENTION_UPLOADS_S: '3',
        RETENTION_SWEEP_INTERVAL_S: '1',
        MAX_UPLOAD_BYTES: String(64 * 1024 * 1024),
      },
      await freePortBlock(STACK_PORTS),
    );
    pool = new Pool({ connectionString: database.url });
  }, 240_000);

  afterAll(async () => {
    if (stack) await stack.stop();
    await pool?.end();
    s3?.destroy();
    await rgw?.stop();
    await deleteTopology(new Topology(prefix, 1));
    await database?.drop();
    await folder?.remove();
  });

  const objectBytes = async (key: string) =>
    Buffer.from(
      await (
        await s3.send(
          new GetObjectCommand({ Bucket: bucket, Key: keyPrefix + key }),
        )
      ).Body!.transformToByteArray(),
    );
  const keysUnder = async (under: string) =>
    (
      (
        await s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: keyPrefix + under,
          }),
        )
      ).Contents ?? []
    ).map((object) => object.Key!.slice(keyPrefix.length));

  async function submitUpload(
    bytes: Buffer,
    fields: Record<string, string>,
  ): Promise<string> {
    const form = new FormData();
    form.append('image', new Blob([bytes]), 'in.bin');
    for (const [name, value] of Object.entries(fields))
      form.append(name, value);
    const response = await adminFetch(`${stack!.baseUrl}/v1/jobs`, {
      method: 'POST',
      body: form,
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  }

  /** The jobs once all finished; if they do not, the apps' warnings say why. */
  const finished = (ids: string[], timeoutMs = 90_000) =>
    waitFor(
      async () => {
        const jobs = await Promise.all(
          ids.map(
            async (id) =>
              (
                await adminFetch(`${stack!.baseUrl}/v1/jobs/${id}`)
              ).json() as Promise<JobView>,
          ),
        );
        return jobs.every(
          (job) => job.status === 'succeeded' || job.status === 'failed',
        )
          ? jobs
          : undefined;
      },
      timeoutMs,
      'the jobs to finish',
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}; the apps said:\n${stack!.output().slice(-4000)}`,
      );
    });

  it('is ready with its storage checked, and runs uploads, folder images and variants with every blob in the bucket', async () => {
    const ready = await fetch(
      `http://127.0.0.1:${stack!.metricsPort}/health/ready`,
    );
    expect(ready.status).toBe(200);
    expect(
      ((await ready.json()) as { info: Record<string, unknown> }).info,
    ).toEqual({
      rabbitmq: { status: 'up' },
      postgres: { status: 'up' },
      storage: { status: 'up' },
    });

    await writeFile(
      join(folder.path, 'images', 'photo.png'),
      await makeImage(400, 300, 'png'),
    );
    const uploaded = await Promise.all(
      [0, 1, 2].map(async (i) =>
        submitUpload(await makeImage(320 + i * 40, 240, 'jpeg'), {
          operations: JSON.stringify([{ op: 'resize', width: 100 }]),
        }),
      ),
    );
    const fromFolder = await adminFetch(`${stack!.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        source: { path: 'photo.png' },
        outputs: [
          {
            name: 'small',
            operations: [{ op: 'resize', width: 64 }],
            format: 'webp',
          },
          { name: 'grey', operations: [{ op: 'grayscale' }] },
        ],
      }),
    });
    expect({
      status: fromFolder.status,
      body: fromFolder.status === 202 ? undefined : await fromFolder.json(),
    }).toEqual({ status: 202, body: undefined });
    const ids = [...uploaded, ((await fromFolder.json()) as { id: string }).id];
    const jobs = await finished(ids);
    expect(jobs.map((job) => [job.status, job.error])).toEqual(
      ids.map(() => ['succeeded', null]),
    );

    const { rows } = await pool.query<{
      job_id: string;
      name: string;
      storage_key: string;
      size_bytes: string;
      sha256: string | null;
    }>(
      'SELECT job_id, name, storage_key, size_bytes, sha256 FROM job_outputs WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, position',
      [ids],
    );
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      const stored = await objectBytes(row.storage_key);
      // The checksum recorded is the stored object's, and the result served is
      // those bytes.
      expect(row.sha256).toBe(sha256Hex(stored));
      expect(Number(row.size_bytes)).toBe(stored.length);
      const result = await adminFetch(
        `${stack!.baseUrl}/v1/jobs/${row.job_id}/result/${row.name}`,
      );
      expect(result.status).toBe(200);
      expect(Buffer.from(await result.arrayBuffer()).equals(stored)).toBe(true);
    }
    const small = rows.find((row) => row.name === 'small')!;
    expect(
      await sharp(await objectBytes(small.storage_key)).metadata(),
    ).toMatchObject({ format: 'webp', width: 64 });
    expect(existsSync(noFolder)).toBe(false);
  });

  it('streams a large upload to the bucket in parts, and the worker reads it back from there', async () => {
    const width = 1600;
    const height = 1400;
    const noise = await sharp({
      create: {
        width,
        height,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 60 },
      },
    })
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(noise.length).toBeGreaterThan(6 * 1024 * 1024);
    const id = await submitUpload(noise, {
      operations: JSON.stringify([{ op: 'resize', width: 200 }]),
      output: JSON.stringify({ format: 'jpeg' }),
    });
    const [job] = await finished([id]);
    expect([job.status, job.error]).toEqual(['succeeded', null]);
    expect(job.output).toMatchObject({
      format: 'jpeg',
      width: 200,
      height: 175,
    });
    expect((await objectBytes(`uploads/${id}`)).equals(noise)).toBe(true);
    expect(
      (
        await s3.send(
          new ListMultipartUploadsCommand({
            Bucket: bucket,
            Prefix: keyPrefix,
          }),
        )
      ).Uploads ?? [],
    ).toEqual([]);
  });

  it('leaves neither an object nor unfinished parts when the client goes away in the middle of a large upload', async () => {
    const { port } = new URL(stack!.baseUrl);
    const boundary = 'x-pipeline-boundary';
    const image = await makeImage(64, 64, 'png');
    const head = Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="operations"\r\n\r\n[]\r\n--${boundary}\r\ncontent-disposition: form-data; name="image"; filename="big.png"\r\ncontent-type: image/png\r\n\r\n`,
    );
    const declared = 30 * 1024 * 1024;
    const socket = connectTcp(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /v1/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TEST_ADMIN_KEY}\r\ncontent-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: ${declared}\r\n\r\n`,
    );
    socket.write(head);
    socket.write(image);
    // Past the first part of a multipart upload (5 MiB), then gone.
    for (let sent = 0; sent < 12 * 1024 * 1024; sent += 256 * 1024) {
      if (!socket.write(Buffer.alloc(256 * 1024, sent % 251)))
        await new Promise((resolve) => socket.once('drain', resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    socket.destroy();
    await waitFor(
      async () =>
        (
          (
            await s3.send(
              new ListMultipartUploadsCommand({
                Bucket: bucket,
                Prefix: keyPrefix,
              }),
            )
          ).Uploads ?? []
        ).length === 0
          ? true
          : undefined,
      20_000,
      'the multipart upload to be aborted',
    );
    const { rows } = await pool.query<{ id: string }>(
      "SELECT id FROM jobs WHERE source->>'kind' = 'upload'",
    );
    const known = new Set(rows.map((row) => `uploads/${row.id}`));
    expect(
      (await keysUnder('uploads/')).filter((key) => !known.has(key)),
    ).toEqual([]);
  });

  it('refuses to serve an output whose stored bytes are not the ones recorded', async () => {
    // Large enough to come from the bucket in many chunks.
    const id = await submitUpload(await makeImage(900, 700, 'png'), {
      operations: '[]',
      output: JSON.stringify({ format: 'png', effort: 1 }),
    });
    await finished([id]);
    const { rows } = await pool.query<{ storage_key: string; sha256: string }>(
      'SELECT storage_key, sha256 FROM job_outputs WHERE job_id = $1',
      [id],
    );
    const { storage_key: key, sha256 } = rows[0];
    const original = await objectBytes(key);
    expect(original.length).toBeGreaterThan(128 * 1024);
    const damaged = Buffer.from(original);
    damaged[damaged.length >> 1] ^= 0xff;

    // Replaced by another writer: the checksum kept with it differs, and
    // nothing is sent.
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: keyPrefix + key,
        Body: damaged,
        Metadata: { sha256: sha256Hex(damaged) },
      }),
    );
    const refused = await adminFetch(`${stack!.baseUrl}/v1/jobs/${id}/result`);
    expect(refused.status).toBe(500);
    expect(((await refused.json()) as { message: string }).message).toContain(
      `does not match the checksum recorded for it (SHA-256 ${sha256Hex(damaged)}, recorded ${sha256}`,
    );

    // Damaged under the checksum kept with it: found at the end of the bytes,
    // and the answer is broken off before its last bytes.
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: keyPrefix + key,
        Body: damaged,
        Metadata: { sha256 },
      }),
    );
    const broken = await adminFetch(`${stack!.baseUrl}/v1/jobs/${id}/result`);
    expect(broken.status).toBe(200);
    await expect(broken.arrayBuffer()).rejects.toThrow();

    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: keyPrefix + key,
        Body: original,
        Metadata: { sha256 },
      }),
    );
    expect(
      Buffer.from(
        await (
          await adminFetch(`${stack!.baseUrl}/v1/jobs/${id}/result`)
        ).arrayBuffer(),
      ).equals(original),
    ).toBe(true);
  });

  it('removes expired uploads from the bucket in the retention sweep, and marks their jobs', async () => {
    const id = await submitUpload(await makeImage(120, 90, 'png'), {
      operations: '[]',
    });
    await finished([id]);
    expect(await keysUnder(`uploads/${id}`)).toEqual([`uploads/${id}`]);
    // The objects go first, then the row is marked.
    await waitFor(
      async () =>
        (
          (await (
            await adminFetch(`${stack!.baseUrl}/v1/jobs/${id}`)
          ).json()) as JobView
        ).inputExpiredAt
          ? true
          : undefined,
      30_000,
      'the upload to expire',
    );
    expect(await keysUnder(`uploads/${id}`)).toEqual([]);
    expect(
      (await adminFetch(`${stack!.baseUrl}/v1/jobs/${id}/result`)).status,
    ).toBe(200);
  });

  describe('a producer of its own, in this process', () => {
    let app: NestFastifyApplication | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    const producer = (settings: Record<string, string>) =>
      startProducer(
        producerTestConfig({
          DATABASE_URL: database.url,
          AMQP_PREFIX: prefix,
          IMAGES_DIR: join(folder.path, 'images'),
          STORAGE_DIR: noFolder,
          ...storageEnv,
          ...settings,
        }),
      );

    it('with RESULT_DELIVERY=redirect, answers 302 to a short-lived presigned URL that serves the output', async () => {
      const id = await submitUpload(await makeImage(200, 150, 'jpeg'), {
        operations: JSON.stringify([{ op: 'resize', width: 50 }]),
        output: JSON.stringify({ format: 'png' }),
      });
      await finished([id]);
      app = await producer({
        RESULT_DELIVERY: 'redirect',
        RESULT_URL_EXPIRES_S: '120',
      });
      const answer = await adminFetch(
        `${await app.getUrl()}/v1/jobs/${id}/result`,
        { redirect: 'manual' },
      );
      expect(answer.status).toBe(302);
      const location = new URL(answer.headers.get('location')!);
      expect(location.origin).toBe(rgw.s3.endpoint);
      expect(location.pathname).toBe(
        `/${bucket}/${keyPrefix}outputs/${id}.1/default`,
      );
      expect(location.searchParams.get('X-Amz-Expires')).toBe('120');
      const served = await fetch(location);
      expect(served.headers.get('content-type')).toBe('image/png');
      expect(served.headers.get('content-disposition')).toBe(
        `inline; filename="${id}.png"`,
      );
      const bytes = Buffer.from(await served.arrayBuffer());
      const { rows } = await pool.query<{ sha256: string }>(
        'SELECT sha256 FROM job_outputs WHERE job_id = $1',
        [id],
      );
      expect(sha256Hex(bytes)).toBe(rows[0].sha256);
    });

    it('with a bucket that does not exist, starts, and is not ready, naming storage', async () => {
      app = await producer({ STORAGE_URL: 's3://no-such-bucket/x' });
      const internal = await fetch(
        `http://127.0.0.1:${app.get(MetricsServer).port}/health/ready`,
      );
      expect(internal.status).toBe(503);
      expect(
        ((await internal.json()) as { error: Record<string, unknown> }).error,
      ).toEqual({ storage: { status: 'down' } });
    });
  });
});
