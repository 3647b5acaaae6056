import { jobEventId } from '@pipeline/contracts';
import { JobEventsRepository } from '@pipeline/database';
import { AmqpConnection, Topology } from '@pipeline/messaging';
import { FilesystemBlobStorage } from '@pipeline/storage';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { connect as connectTcp, Socket } from 'node:net';
import { join } from 'node:path';
import { Pool } from 'pg';
import { startProducer } from '../../apps/producer/src/producer.app';
import { adminFetch, TEST_ADMIN_KEY } from '../support/api-keys';
import { makeImage } from '../support/images';
import { producerTestConfig } from '../support/producer-config';
import {
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';

const MAX_UPLOAD_BYTES = 64 * 1024;
const ROUNDS = 10;
const BOUNDARY = 'hostile-upload-boundary-7f3a';
const OPERATIONS = '[{"op":"resize","width":100}]';

interface Part {
  name: string;
  data: Buffer | string;
  /** Given for a file part. */
  filename?: string;
}

function partBytes(part: Part): Buffer {
  const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
  const type =
    part.filename === undefined ? '' : 'Content-Type: image/jpeg\r\n';
  return Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`,
    ),
    Buffer.from(part.data),
    Buffer.from('\r\n'),
  ]);
}

/**
 * A multipart body built byte by byte, so that the order of its parts is the
 * test's.
 */
function multipartBody(parts: Part[]): Buffer {
  return Buffer.concat([
    ...parts.map(partBytes),
    Buffer.from(`--${BOUNDARY}--\r\n`),
  ]);
}

const imagePart = (data: Buffer | string): Part => ({
  name: 'image',
  filename: 'upload.jpg',
  data,
});
const operationsPart: Part = { name: 'operations', data: OPERATIONS };

/**
 * Uploads that must be refused with a 4xx and a message naming why, however
 * often they come and in whichever order their parts are: none of them may take
 * the producer down or leave anything behind.
 */
describe('Producer against hostile and aborted uploads (real RabbitMQ and PostgreSQL, no workers)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let app: NestFastifyApplication;
  let base: string;
  let pool: Pool;
  let topology: Topology;
  let storageDir: string;
  let goodImage: Buffer;

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    storageDir = join(folder.path, 'storage');
    await mkdir(join(folder.path, 'images'), { recursive: true });
    goodImage = await makeImage(200, 150);
    app = await startProducer(
      producerTestConfig({
        LOG_LEVEL: 'warn',
        DATABASE_URL: database.url,
        AMQP_PREFIX: uniqueName('hostile'),
        STORAGE_DIR: storageDir,
        IMAGES_DIR: join(folder.path, 'images'),
        MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
        RATE_LIMIT_REQUESTS: '0',
      }),
    );
    base = await app.getUrl();
    topology = app.get(AmqpConnection).topology;
    pool = new Pool({ connectionString: database.url });
  });

  afterAll(async () => {
    await app?.close();
    await pool?.end();
    if (topology) await deleteTopology(topology);
    await database.drop();
    await folder.remove();
  });

  const postMultipart = (body: Buffer) =>
    adminFetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body,
    });

  /** The API's answer to a refused request. */
  const readError = (response: Response) =>
    response.json() as Promise<{
      statusCode: number;
      message: string | string[];
    }>;

  const jobCount = async () =>
    (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs'))
      .rows[0].n;

  /**
   * Every file (not folder) under the storage folder, temporary ones included.
   */
  function storedFiles(dir = storageDir): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? storedFiles(join(dir, entry.name))
        : [join(dir, entry.name)],
    );
  }

  /**
   * Files under the storage folder this process (the producer runs in it) holds
   * open.
   */
  function openStorageFiles(): string[] {
    return readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`);
        return target.startsWith(storageDir) ? [target] : [];
      } catch {
        return []; // closed meanwhile (the readdir's own descriptor, for one)
      }
    });
  }

  async function expectAliveAndAcceptingJobs(): Promise<void> {
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    const good = await postMultipart(
      multipartBody([imagePart(goodImage), operationsPart]),
    );
    expect(good.status).toBe(202);
  }

  const hostile: Array<{
    name: string;
    image: () => Buffer | string;
    status: number;
    message: RegExp;
  }> = [
    {
      name: 'an empty image',
      image: () => Buffer.alloc(0),
      status: 400,
      message: /image is empty/,
    },
    {
      name: 'a one-byte image',
      image: () => Buffer.from([0xff]),
      status: 415,
      message: /not a supported image/,
    },
    {
      name: 'text',
      image: () => 'just some words, not an image at all\n'.repeat(20),
      status: 415,
      message: /not a supported image/,
    },
    {
      name: 'a PNG cut off inside its signature',
      image: () => Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]),
      status: 415,
      message: /not a supported image/,
    },
    {
      name: 'an image over MAX_UPLOAD_BYTES',
      image: () => Buffer.concat([goodImage, Buffer.alloc(MAX_UPLOAD_BYTES)]),
      status: 413,
      message: /larger than the limit of 65536 bytes/,
    },
  ];

  describe.each([
    ['first', (image: Part) => [image, operationsPart]],
    ['last', (image: Part) => [operationsPart, image]],
  ])('with the image part %s', (_order, arrange) => {
    it.each(hostile)(
      `refuses $name ${ROUNDS} times in a row with a 4xx naming why, keeps nothing, and stays up`,
      async ({ image, status, message }) => {
        const jobsBefore = await jobCount();
        const filesBefore = storedFiles();
        for (let round = 1; round <= ROUNDS; round++) {
          const response = await postMultipart(
            multipartBody(arrange(imagePart(image()))),
          );
          const body = await readError(response);
          expect({ round, status: response.status }).toEqual({ round, status });
          expect([body.message].flat().join('; ')).toMatch(message);
          expect((await fetch(`${base}/health/live`)).status).toBe(200);
        }
        expect(storedFiles()).toEqual(filesBefore);
        expect(await jobCount()).toBe(jobsBefore);
        await expectAliveAndAcceptingJobs();
        expect(await jobCount()).toBe(jobsBefore + 1);
      },
    );
  });

  it('refuses a multipart body that ends inside the image (no closing boundary) with 400 naming it, and keeps nothing', async () => {
    const jobsBefore = await jobCount();
    const filesBefore = storedFiles();
    for (const parts of [
      [operationsPart, imagePart(goodImage)],
      [imagePart(goodImage), operationsPart],
    ]) {
      const whole = multipartBody(parts);
      const imageStart = whole.indexOf(goodImage);
      const response = await postMultipart(
        whole.subarray(0, imageStart + goodImage.length / 2),
      );
      expect(response.status).toBe(400);
      expect([(await readError(response)).message].flat().join()).toMatch(
        /ended before/,
      );
    }
    expect(storedFiles()).toEqual(filesBefore);
    expect(await jobCount()).toBe(jobsBefore);
    await expectAliveAndAcceptingJobs();
  });

  /**
   * Sends the headers (with the whole body's Content-Length) and the body up to
   * `cutAt`, waits until the producer shows it is storing the upload, then goes
   * away.
   */
  async function abandonUpload(
    what: string,
    body: Buffer,
    cutAt: number,
    started: () => boolean,
    leave: (socket: Socket) => void,
  ): Promise<void> {
    const { hostname, port } = new URL(base);
    const socket = connectTcp({ host: hostname, port: Number(port) });
    // the producer may reset a connection the test already gave up
    socket.on('error', () => undefined);
    // whatever the producer answers, so that its closing the connection is seen
    socket.resume();
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      [
        'POST /v1/jobs HTTP/1.1',
        `Host: ${hostname}:${port}`,
        `Authorization: Bearer ${TEST_ADMIN_KEY}`,
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
        `Content-Length: ${body.length}`,
        '',
        '',
      ].join('\r\n'),
    );
    socket.write(body.subarray(0, cutAt));
    await waitFor(
      () => (started() ? true : undefined),
      20_000,
      `the producer to start storing the upload to abandon ${what}`,
    );
    leave(socket);
    await new Promise<void>((resolve) =>
      socket.destroyed ? resolve() : socket.once('close', () => resolve()),
    );
  }

  it('leaves no file, no open file and no job behind when clients go away mid-upload, and stays up', async () => {
    const jobsBefore = await jobCount();
    const filesBefore = storedFiles();
    const oversized = await makeImage(600, 600, 'png');
    expect(goodImage.length).toBeLessThan(MAX_UPLOAD_BYTES);
    expect(oversized.length).toBeGreaterThan(2 * MAX_UPLOAD_BYTES);
    const temporaryFile = () =>
      storedFiles().some((file) => file.endsWith('.tmp'));
    const newUpload = () =>
      storedFiles().some(
        (file) => !filesBefore.includes(file) && !file.endsWith('.tmp'),
      );
    const middleOf = (image: Buffer) => (body: Buffer) =>
      body.indexOf(image) + Math.floor(image.length / 2);
    const cases: Array<{
      parts: Part[];
      cutAt: (body: Buffer) => number;
      started: () => boolean;
    }> = [
      // In the middle of the image, after or before the operations.
      {
        parts: [operationsPart, imagePart(goodImage)],
        cutAt: middleOf(goodImage),
        started: temporaryFile,
      },
      {
        parts: [imagePart(goodImage), operationsPart],
        cutAt: middleOf(goodImage),
        started: temporaryFile,
      },
      // Past MAX_UPLOAD_BYTES, in the middle of an image too large.
      {
        parts: [imagePart(oversized), operationsPart],
        cutAt: middleOf(oversized),
        started: temporaryFile,
      },
      // The image complete and stored, the operations not yet complete.
      {
        parts: [imagePart(goodImage), operationsPart],
        cutAt: (body) => body.indexOf(OPERATIONS) + 5,
        started: newUpload,
      },
      // Every part complete, the closing boundary not: its final "--" is
      // missing.
      {
        parts: [imagePart(goodImage), operationsPart],
        cutAt: (body) => body.length - 4,
        started: newUpload,
      },
    ];
    const cleanedUp = async (what: string) => {
      const left = () =>
        storedFiles().filter((file) => !filesBefore.includes(file));
      await waitFor(
        () => (left().length === 0 ? true : undefined),
        10_000,
        `no files left from the upload abandoned ${what} (left: ${left().join(', ')})`,
      );
      await waitFor(
        () => (openStorageFiles().length === 0 ? true : undefined),
        10_000,
        `no open files under the storage folder after the upload abandoned ${what} (open: ${openStorageFiles().join(', ')})`,
      );
    };
    for (let round = 0; round < 3; round++) {
      for (const [index, { parts, cutAt, started }] of cases.entries()) {
        const body = multipartBody(parts);
        const what = `in case ${index + 1}, round ${round + 1}`;
        await abandonUpload(what, body, cutAt(body), started, (socket) =>
          round % 2 === 0 ? socket.destroy() : socket.end(),
        );
        await cleanedUp(what);
      }
    }
    expect(storedFiles()).toEqual(filesBefore);
    expect(await jobCount()).toBe(jobsBefore);
    await expectAliveAndAcceptingJobs();
  });

  it('closes a result file when its client goes away mid-download', async () => {
    const created = await postMultipart(
      multipartBody([imagePart(goodImage), operationsPart]),
    );
    const { id } = (await created.json()) as { id: string };
    const key = `outputs/${id}`;
    const output = randomBytes(16 * 1024 * 1024);
    await new FilesystemBlobStorage(storageDir).put(key, output);
    const at = new Date().toISOString();
    await new JobEventsRepository(pool).record([
      {
        eventId: jobEventId(id, 1, 'started', 1),
        jobId: id,
        type: 'started',
        attempt: 1,
        delivery: 1,
        workerId: 'w',
        at,
      },
      {
        eventId: jobEventId(id, 1, 'succeeded', 1),
        jobId: id,
        type: 'succeeded',
        attempt: 1,
        delivery: 1,
        workerId: 'w',
        at,
        outputs: [
          {
            name: 'default',
            key,
            format: 'png',
            width: 1,
            height: 1,
            sizeBytes: output.length,
          },
        ],
      },
    ]);
    for (let round = 0; round < 3; round++) {
      const { hostname, port } = new URL(base);
      const socket = connectTcp({ host: hostname, port: Number(port) });
      socket.on('error', () => undefined);
      socket.write(
        `GET /v1/jobs/${id}/result HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${TEST_ADMIN_KEY}\r\n\r\n`,
      );
      // Take some of the answer, then stop reading: the producer is left with
      // most of the file to send.
      await new Promise<void>((resolve) =>
        socket.once('data', () => resolve()),
      );
      socket.pause();
      await waitFor(
        () => (openStorageFiles().length > 0 ? true : undefined),
        10_000,
        'the producer to open the result',
      );
      socket.destroy();
    }
    await waitFor(
      () => (openStorageFiles().length === 0 ? true : undefined),
      10_000,
      `no open files under the storage folder (open: ${openStorageFiles().join(', ')})`,
    );
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
  });
});
