import {
  ImageJobMessage,
  jobEventId,
  JobEventView,
  JobView,
  MessageType,
} from '@pipeline/contracts';
import { JobEventsRepository } from '@pipeline/database';
import { AmqpConnection, Topology } from '@pipeline/messaging';
import { FilesystemBlobStorage } from '@pipeline/storage';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { HealthCheckResult } from '@nestjs/terminus';
import { connect, ChannelModel, Channel, ConfirmChannel } from 'amqplib';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'pg';
import sharp from 'sharp';
import { startProducer } from '../../apps/producer/src/producer.app';
import { makeImage } from '../support/images';
import {
  AMQP_URL,
  createTestDatabase,
  deleteTopology,
  dropBrokerConnections,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';
import { adminFetch } from '../support/api-keys';
import { AcceptedJob, ErrorBody, readBody, readError } from '../support/http';
import {
  arrayContaining,
  stringContaining,
  stringMatching,
} from '../support/matchers';
import { producerTestConfig } from '../support/producer-config';

describe('Producer HTTP API (real RabbitMQ and PostgreSQL, no workers)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let app: NestFastifyApplication;
  let base: string;
  let pool: Pool;
  let topology: Topology;
  let inspector: ChannelModel;
  let channel: Channel;
  let confirmChannel: ConfirmChannel;
  let storageDir: string;
  let imagesDir: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    storageDir = join(folder.path, 'storage');
    imagesDir = join(folder.path, 'images');
    await mkdir(join(imagesDir, 'nested'), { recursive: true });
    await writeFile(join(imagesDir, 'photo.jpg'), await makeImage(320, 240));
    await writeFile(
      join(imagesDir, 'nested', 'photo.png'),
      await makeImage(64, 64, 'png'),
    );
    await writeFile(join(folder.path, 'secret.jpg'), await makeImage(16, 16));
    await symlink(
      join(folder.path, 'secret.jpg'),
      join(imagesDir, 'escape.jpg'),
    );
    const config = producerTestConfig({
      LOG_LEVEL: 'warn',
      DATABASE_URL: database.url,
      AMQP_PREFIX: uniqueName('api'),
      STORAGE_DIR: storageDir,
      IMAGES_DIR: imagesDir,
      MAX_UPLOAD_BYTES: String(200 * 1024),
      PUBLISH_TIMEOUT_MS: '2000',
    });
    app = await startProducer(config);
    base = await app.getUrl();
    topology = app.get(AmqpConnection).topology;
    pool = new Pool({ connectionString: database.url });
    inspector = await connect(AMQP_URL);
    channel = await inspector.createChannel();
    confirmChannel = await inspector.createConfirmChannel();
  });

  afterAll(async () => {
    await app?.close();
    await inspector?.close();
    await pool?.end();
    if (topology) await deleteTopology(topology);
    await database.drop();
    await folder.remove();
  });

  /** An item of a batch's answer: the accepted job, or why it was refused. */
  type BatchItem =
    AcceptedJob | { error: Pick<ErrorBody, 'statusCode' | 'message'> };

  const postJson = (body: unknown) =>
    adminFetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  async function postForm(
    parts: Record<string, string | Blob>,
  ): Promise<Response> {
    const form = new FormData();
    for (const [name, value] of Object.entries(parts)) {
      if (typeof value === 'string') form.append(name, value);
      else form.append(name, value, `${name}.bin`);
    }
    return adminFetch(`${base}/v1/jobs`, { method: 'POST', body: form });
  }

  const jobCount = async () =>
    (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs'))
      .rows[0].n;
  const uploads = () =>
    existsSync(join(storageDir, 'uploads'))
      ? readdirSync(join(storageDir, 'uploads'))
      : [];

  async function takeJobMessage() {
    const message = await channel.get(topology.jobsQueue, { noAck: true });
    expect(message).not.toBe(false);
    return message as Exclude<typeof message, false>;
  }

  it('accepts a JSON job naming a file in the images folder: 202, Location, queued, published', async () => {
    const response = await postJson({
      source: { path: 'nested/photo.png' },
      operations: [{ op: 'resize', width: 32 }],
      output: { format: 'webp', quality: 70 },
    });
    expect(response.status).toBe(202);
    const body = await readBody<AcceptedJob>(response);
    expect(body).toEqual({
      id: stringMatching(/^[0-9a-f-]{36}$/),
      status: 'queued',
    });
    expect(response.headers.get('location')).toBe(`/v1/jobs/${body.id}`);

    // A GET right after the 202 finds the job.
    const job = await readBody(await adminFetch(`${base}/v1/jobs/${body.id}`));
    expect(job).toMatchObject({
      id: body.id,
      status: 'queued',
      attempts: 0,
      operations: [{ op: 'resize', width: 32 }],
      output: null,
      error: null,
    });

    const message = await takeJobMessage();
    expect(message.properties).toMatchObject({
      messageId: body.id,
      type: MessageType.imageJob,
      deliveryMode: 2,
    });
    expect(JSON.parse(message.content.toString())).toMatchObject({
      jobId: body.id,
      attempt: 1,
      source: { kind: 'images', path: 'nested/photo.png' },
      operations: [{ op: 'resize', width: 32 }],
      output: { format: 'webp', quality: 70 },
    });
  });

  it('takes a URL source, publishing it for the workers to fetch, and refuses one that is not http(s), carries credentials or names a port SOURCE_URL_PORTS does not list', async () => {
    const response = await postJson({
      source: { url: 'https://images.example.com/a%20b.jpg?size=2' },
      operations: [{ op: 'flip' }],
    });
    expect(response.status).toBe(202);
    expect(
      (
        JSON.parse(
          (await takeJobMessage()).content.toString(),
        ) as ImageJobMessage
      ).source,
    ).toEqual({
      kind: 'url',
      url: 'https://images.example.com/a%20b.jpg?size=2',
    });
    for (const [url, problem] of [
      [
        'file:///etc/passwd',
        'source.url is not allowed: only http and https URLs are allowed, not file',
      ],
      [
        'gopher://127.0.0.1:25/',
        'source.url is not allowed: only http and https URLs are allowed, not gopher',
      ],
      [
        'http://user:secret@example.com/a.jpg',
        'source.url is not allowed: the URL must not contain a user name or password',
      ],
      [
        'not a url',
        'source.url is not allowed: it is not a valid absolute URL',
      ],
      [
        'http://10.0.0.5:6379/a.jpg',
        'source.url is not allowed: port 6379 is not one of SOURCE_URL_PORTS (80,443)',
      ],
      [
        'https://images.example.com:8443/a.jpg',
        'source.url is not allowed: port 8443 is not one of SOURCE_URL_PORTS (80,443)',
      ],
    ]) {
      const refused = await postJson({ source: { url }, operations: [] });
      expect(refused.status).toBe(400);
      expect((await readError(refused)).message).toEqual([problem]);
    }
  });

  it('takes a preset instead of operations, and lists the presets', async () => {
    const response = await postJson({
      source: { path: 'photo.jpg' },
      preset: 'thumbnail',
      output: { quality: 60 },
    });
    expect(response.status).toBe(202);
    const message = JSON.parse(
      (await takeJobMessage()).content.toString(),
    ) as ImageJobMessage;
    expect(message.operations).toEqual([
      {
        op: 'resize',
        width: 320,
        height: 320,
        fit: 'cover',
        position: 'attention',
      },
    ]);
    expect(message.output).toEqual({ format: 'webp', quality: 60 });
    const presets = await readBody<{ name: string }[]>(
      await adminFetch(`${base}/v1/presets`),
    );
    expect(presets.map((preset: { name: string }) => preset.name)).toEqual([
      'thumbnail',
      'web',
      'avatar',
    ]);
    const unknown = await postJson({
      source: { path: 'photo.jpg' },
      preset: 'poster',
    });
    expect(unknown.status).toBe(400);
    expect((await readError(unknown)).message).toEqual([
      'preset "poster" is not defined (defined: thumbnail, web, avatar)',
    ]);
  });

  it('takes several named outputs, publishes them as variants, and names what is wrong in each', async () => {
    const response = await postJson({
      source: { path: 'photo.jpg' },
      operations: [{ op: 'flip' }],
      outputs: [
        { name: 'small', preset: 'avatar' },
        {
          name: 'wide',
          operations: [{ op: 'resize', width: 64 }],
          format: 'png',
        },
      ],
    });
    expect(response.status).toBe(202);
    const { id } = await readBody<AcceptedJob>(response);
    const message = JSON.parse(
      (await takeJobMessage()).content.toString(),
    ) as ImageJobMessage;
    expect(message.variants).toEqual([
      {
        name: 'small',
        operations: [
          {
            op: 'resize',
            width: 256,
            height: 256,
            fit: 'cover',
            position: 'attention',
          },
        ],
        output: { format: 'webp', quality: 85 },
      },
      {
        name: 'wide',
        operations: [{ op: 'resize', width: 64 }],
        output: { format: 'png' },
      },
    ]);
    expect(
      await readBody(await adminFetch(`${base}/v1/jobs/${id}`)),
    ).toMatchObject({
      operations: [{ op: 'flip' }],
      variants: message.variants,
      outputs: [],
    });

    const invalid = await postJson({
      source: { path: 'photo.jpg' },
      outputs: [
        {
          name: 'x',
          operations: [{ op: 'watermark', image: '../etc/passwd' }],
        },
        { name: 'x' },
      ],
    });
    expect(invalid.status).toBe(400);
    expect((await readError(invalid)).message).toEqual([
      'outputs[1].name "x" is used by an earlier output',
    ]);
    const outside = await postJson({
      source: { path: 'photo.jpg' },
      outputs: [
        {
          name: 'x',
          operations: [{ op: 'watermark', image: '../etc/passwd' }],
        },
      ],
    });
    expect(outside.status).toBe(400);
    expect(((await readError(outside)).message as string[]).join(' ')).toMatch(
      /^outputs\[0\]\.operations\[0\]\.image/,
    );
  });

  it('takes a batch of JSON jobs, each accepted or refused on its own, answering in order', async () => {
    const before = await jobCount();
    const response = await adminFetch(`${base}/v1/jobs/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jobs: [
          { source: { path: 'photo.jpg' }, operations: [{ op: 'flip' }] },
          { source: { path: '../secret.jpg' }, operations: [] },
          { source: { path: 'photo.jpg' }, operations: [{ op: 'explode' }] },
          { source: { path: 'nested/photo.png' }, preset: 'avatar' },
        ],
      }),
    });
    expect(response.status).toBe(200);
    const { jobs } = await readBody<{ jobs: BatchItem[] }>(response);
    expect(jobs).toEqual([
      { id: stringMatching(/^[0-9a-f-]{36}$/), status: 'queued' },
      {
        error: {
          statusCode: 400,
          message: ['source.path must not contain ".." segments'],
        },
      },
      {
        error: {
          statusCode: 400,
          message: [
            stringContaining(
              'operations[0].op "explode" is not a known operation',
            ),
          ],
        },
      },
      { id: stringMatching(/^[0-9a-f-]{36}$/), status: 'queued' },
    ]);
    expect(await jobCount()).toBe(before + 2);
    const published = [await takeJobMessage(), await takeJobMessage()]
      .map((m) => m.properties.messageId as string)
      .sort();
    const [first, , , fourth] = jobs as AcceptedJob[];
    expect(published).toEqual([first.id, fourth.id].sort());
    expect(
      (
        await readBody<JobView>(
          await adminFetch(`${base}/v1/jobs/${fourth.id}`),
        )
      ).status,
    ).toBe('queued');

    const empty = await adminFetch(`${base}/v1/jobs/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"jobs":[]}',
    });
    expect(empty.status).toBe(400);
    expect((await readError(empty)).message).toEqual([
      'jobs must hold 1 to 100 jobs (got 0)',
    ]);
  });

  it('with an Idempotency-Key, a repeated request returns the first job; a different one under the key is refused', async () => {
    const before = await jobCount();
    const post = (key: string, body: unknown) =>
      adminFetch(`${base}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      });
    const first = await post('order-1', {
      source: { path: 'photo.jpg' },
      operations: [{ op: 'resize', width: 10, height: 8 }],
    });
    expect(first.status).toBe(202);
    const { id } = await readBody<AcceptedJob>(first);
    // The same request, its keys in another order: the same job.
    const repeat = await post('order-1', {
      operations: [{ height: 8, op: 'resize', width: 10 }],
      source: { path: 'photo.jpg' },
    });
    expect(repeat.status).toBe(202);
    expect(await readBody(repeat)).toEqual({ id, status: 'queued' });
    expect(repeat.headers.get('location')).toBe(`/v1/jobs/${id}`);
    const different = await post('order-1', {
      source: { path: 'photo.jpg' },
      operations: [{ op: 'flip' }],
    });
    expect(different.status).toBe(409);
    expect((await readError(different)).message).toContain(
      'Idempotency-Key "order-1" was already used for a different request',
    );
    expect(await jobCount()).toBe(before + 1);
    expect((await takeJobMessage()).properties.messageId).toBe(id);
    expect(await channel.get(topology.jobsQueue)).toBe(false);

    // A first request whose confirmation was never recorded (its producer died
    // between the insert and the confirm): the repeat waits out the publish
    // timeout, then publishes the job again.
    await pool.query('UPDATE jobs SET published_at = NULL WHERE id = $1', [id]);
    const started = Date.now();
    const unconfirmed = await post('order-1', {
      source: { path: 'photo.jpg' },
      operations: [{ op: 'resize', width: 10, height: 8 }],
    });
    expect(unconfirmed.status).toBe(202);
    expect((await readBody<AcceptedJob>(unconfirmed)).id).toBe(id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    const again = await takeJobMessage();
    expect(JSON.parse(again.content.toString())).toMatchObject({
      jobId: id,
      attempt: 1,
      source: { kind: 'images', path: 'photo.jpg' },
      operations: [{ op: 'resize', width: 10, height: 8 }],
    });
    expect(
      (
        await pool.query<{ confirmed: boolean }>(
          'SELECT published_at IS NOT NULL AS confirmed FROM jobs WHERE id = $1',
          [id],
        )
      ).rows[0].confirmed,
    ).toBe(true);
    expect(await jobCount()).toBe(before + 1);

    // An upload repeated under its key keeps one stored input.
    const image = await makeImage(40, 30);
    const upload = () => {
      const form = new FormData();
      form.append('image', new Blob([image]), 'a.jpg');
      form.append('operations', '[]');
      return adminFetch(`${base}/v1/jobs`, {
        method: 'POST',
        headers: { 'idempotency-key': 'upload-1' },
        body: form,
      });
    };
    const firstUpload = await readBody(await upload());
    const uploadsAfterFirst = uploads().length;
    expect(await readBody(await upload())).toEqual(firstUpload);
    expect(uploads()).toHaveLength(uploadsAfterFirst);
    await takeJobMessage();

    const badKey = await post('x'.repeat(201), {
      source: { path: 'photo.jpg' },
      operations: [],
    });
    expect(badKey.status).toBe(400);
  });

  it('accepts a multipart upload, streams it to storage and publishes a reference, never the bytes', async () => {
    const image = await makeImage(100, 80);
    const response = await postForm({
      image: new Blob([image]),
      operations: JSON.stringify([{ op: 'grayscale' }]),
    });
    expect(response.status).toBe(202);
    const { id } = await readBody<AcceptedJob>(response);
    expect(uploads()).toContain(id);
    const message = await takeJobMessage();
    expect(message.content.length).toBeLessThan(1000);
    expect(
      (JSON.parse(message.content.toString()) as ImageJobMessage).source,
    ).toEqual({ kind: 'upload', key: `uploads/${id}` });
  });

  it.each([
    [
      'an unknown operation',
      { source: { path: 'photo.jpg' }, operations: [{ op: 'explode' }] },
      'operations[0].op "explode" is not a known operation',
    ],
    [
      'a resize without width or height',
      { source: { path: 'photo.jpg' }, operations: [{ op: 'resize' }] },
      'resize needs width and/or height',
    ],
    [
      'a blur sigma out of range',
      {
        source: { path: 'photo.jpg' },
        operations: [{ op: 'blur', sigma: 5000 }],
      },
      'operations[0].sigma must not be greater than 1000',
    ],
    [
      'operations that are not a list',
      { source: { path: 'photo.jpg' }, operations: 'resize' },
      'operations must be an array',
    ],
    ['no source', { operations: [] }, 'source is required'],
    [
      'an unknown output format',
      {
        source: { path: 'photo.jpg' },
        operations: [],
        output: { format: 'bmp' },
      },
      'output.format must be one of',
    ],
    [
      'a path with ..',
      { source: { path: '../secret.jpg' }, operations: [] },
      'must not contain ".." segments',
    ],
    [
      'an absolute path',
      { source: { path: '/etc/passwd' }, operations: [] },
      'must be relative to the images folder',
    ],
    [
      'a symlink leading out of the folder',
      { source: { path: 'escape.jpg' }, operations: [] },
      'leads outside the images folder',
    ],
    [
      'a missing file',
      { source: { path: 'nope.jpg' }, operations: [] },
      'does not exist in the images folder',
    ],
    [
      'a folder',
      { source: { path: 'nested' }, operations: [] },
      'is not a file',
    ],
    [
      'a watermark image outside the folder',
      {
        source: { path: 'photo.jpg' },
        operations: [{ op: 'watermark', image: '../secret.jpg' }],
      },
      'operations[0].image must not contain ".." segments',
    ],
    [
      'a missing watermark image',
      {
        source: { path: 'photo.jpg' },
        operations: [{ op: 'watermark', image: 'logo.png' }],
      },
      'operations[0].image "logo.png" does not exist',
    ],
  ])(
    'rejects %s with 400 naming the problem, and queues nothing',
    async (_what, body, expected) => {
      const before = await jobCount();
      const response = await postJson(body);
      expect(response.status).toBe(400);
      const { message } = await readError(response);
      expect(
        (Array.isArray(message) ? message : [message]).join('\n'),
      ).toContain(expected);
      expect(await jobCount()).toBe(before);
    },
  );

  it('rejects malformed JSON with 400', async () => {
    const response = await adminFetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"source":',
    });
    expect(response.status).toBe(400);
    expect((await readError(response)).message).toMatch(/JSON/);
  });

  it('rejects a multipart job without an image, or with malformed operations, and keeps no upload', async () => {
    const before = uploads();
    const noImage = await postForm({ operations: '[]' });
    expect(noImage.status).toBe(400);
    expect(((await readError(noImage)).message as string[]).join()).toContain(
      'image is required',
    );

    const badJson = await postForm({
      image: new Blob([await makeImage(20, 20)]),
      operations: '[{"op":',
    });
    expect(badJson.status).toBe(400);
    expect(((await readError(badJson)).message as string[]).join()).toContain(
      'operations is not valid JSON',
    );
    expect(uploads()).toEqual(before);
  });

  it('rejects a file that is not an image with 415, whatever its declared type', async () => {
    const before = uploads().length;
    const response = await postForm({
      image: new Blob(['<svg onload=alert(1)>'], { type: 'image/jpeg' }),
      operations: '[]',
    });
    expect(response.status).toBe(415);
    expect(uploads()).toHaveLength(before);
  });

  it('rejects an upload above the size limit with 413 and keeps nothing of it', async () => {
    const before = uploads().length;
    const big = Buffer.concat([
      await makeImage(64, 64),
      Buffer.alloc(300 * 1024),
    ]);
    const response = await postForm({
      image: new Blob([big]),
      operations: '[]',
    });
    expect(response.status).toBe(413);
    expect(uploads()).toHaveLength(before);
  });

  describe('operations that would make an image over MAX_OUTPUT_PIXELS (50000000 by default)', () => {
    // A 1×1 image blown up, padded on every side, then flipped: 49152×49152
    // pixels, were it run.
    const blownUp = [
      { op: 'resize', width: 16384, height: 16384, fit: 'fill' },
      { op: 'extend', top: 16384, bottom: 16384, left: 16384, right: 16384 },
      { op: 'flip' },
    ];
    const queued = async () =>
      (await channel.checkQueue(topology.jobsQueue)).messageCount;

    it('refuses an upload with 400 naming the operation, the size and the limit, and keeps nothing of it', async () => {
      const [jobsBefore, uploadsBefore, queuedBefore] = [
        await jobCount(),
        uploads(),
        await queued(),
      ];
      const response = await postForm({
        image: new Blob([await makeImage(1, 1, 'png')]),
        operations: JSON.stringify(blownUp),
      });
      expect(response.status).toBe(400);
      expect((await readError(response)).message).toEqual([
        'operations[0] (resize) would make a 16384×16384 image (268435456 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
      ]);
      expect([await jobCount(), uploads(), await queued()]).toEqual([
        jobsBefore,
        uploadsBefore,
        queuedBefore,
      ]);
    });

    it('names the variant, counting from the end of the shared operations, for an upload and for a folder path', async () => {
      const uploadsBefore = uploads();
      // 320×240, turned upright by its EXIF orientation: 240×320; 16384 wide,
      // it would be 16384×21845.
      const turned = await sharp(await makeImage(320, 240))
        .withMetadata({ orientation: 6 })
        .jpeg()
        .toBuffer();
      const outputs = [
        { name: 'small', preset: 'avatar' },
        {
          name: 'huge',
          operations: [{ op: 'flop' }, { op: 'resize', width: 16384 }],
        },
      ];
      const upload = await postForm({
        image: new Blob([turned]),
        operations: '[{"op":"grayscale"}]',
        outputs: JSON.stringify(outputs),
      });
      expect(upload.status).toBe(400);
      expect((await readError(upload)).message).toEqual([
        'outputs[1].operations[1] (resize) would make a 16384×21845 image (357908480 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
      ]);
      expect(uploads()).toEqual(uploadsBefore);

      // 320×240, cropped to a 10×240 strip: 16384 wide, it would be
      // 16384×393216.
      const path = await postJson({
        source: { path: 'photo.jpg' },
        operations: [{ op: 'crop', left: 0, top: 0, width: 10, height: 240 }],
        outputs,
      });
      expect(path.status).toBe(400);
      expect((await readError(path)).message).toEqual([
        'outputs[1].operations[1] (resize) would make a 16384×393216 image (6442450944 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
      ]);
    });

    it('judges an upload from its header wherever that lies: in the first bytes kept, or (the frames of a GIF) only in the whole file', async () => {
      const uploadsBefore = uploads();
      // More than the first 64 KiB the producer keeps of an upload (and less
      // than MAX_UPLOAD_BYTES here).
      const large = await makeImage(400, 300, 'png');
      const frames = await Promise.all(
        [0, 1].map(async (shift) =>
          sharp(await makeImage(400 + shift, 300))
            .resize(400, 300)
            .png()
            .toBuffer(),
        ),
      );
      const animated = await sharp(frames, { join: { animated: true } })
        .gif()
        .toBuffer();
      expect(Math.min(large.length, animated.length)).toBeGreaterThan(
        64 * 1024,
      );
      const tooLarge = JSON.stringify([{ op: 'resize', width: 16384 }]);
      const png = await postForm({
        image: new Blob([large]),
        operations: tooLarge,
      });
      expect(png.status).toBe(400);
      expect((await readError(png)).message).toEqual([
        'operations[0] (resize) would make a 16384×12288 image (201326592 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
      ]);
      const gif = await postForm({
        image: new Blob([animated]),
        operations: tooLarge,
      });
      expect(gif.status).toBe(400);
      expect((await readError(gif)).message).toEqual([
        'operations[0] (resize) would make a 16384×12288 image (201326592 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
      ]);
      expect(uploads()).toEqual(uploadsBefore);
    });

    it('refuses the item of a batch that is too large, in its place, and accepts the others', async () => {
      const before = await jobCount();
      const response = await adminFetch(`${base}/v1/jobs/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          jobs: [
            {
              source: { path: 'photo.jpg' },
              operations: [{ op: 'resize', width: 640 }],
            },
            {
              source: { path: 'nested/photo.png' },
              operations: [
                { op: 'rotate', angle: 45 },
                { op: 'resize', width: 9000, height: 9000, fit: 'contain' },
              ],
            },
          ],
        }),
      });
      expect(response.status).toBe(200);
      expect((await readBody<{ jobs: BatchItem[] }>(response)).jobs).toEqual([
        { id: stringMatching(/^[0-9a-f-]{36}$/), status: 'queued' },
        {
          error: {
            statusCode: 400,
            message: [
              'operations[1] (resize) would make a 9000×9000 image (81000000 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
            ],
          },
        },
      ]);
      expect(await jobCount()).toBe(before + 1);
      await takeJobMessage();
    });

    it('accepts the same operations on a URL source, whose size only the worker can know', async () => {
      const response = await postJson({
        source: { url: 'https://images.example.com/tiny.png' },
        operations: blownUp,
      });
      expect(response.status).toBe(202);
      expect(
        (
          JSON.parse(
            (await takeJobMessage()).content.toString(),
          ) as ImageJobMessage
        ).operations,
      ).toEqual(blownUp);
    });
  });

  it('answers 404 for an unknown job, 400 for a malformed id, 409 for a result not ready', async () => {
    expect(
      (await adminFetch(`${base}/v1/jobs/00000000-0000-4000-8000-000000000000`))
        .status,
    ).toBe(404);
    expect((await adminFetch(`${base}/v1/jobs/not-a-uuid`)).status).toBe(400);
    const { id } = await readBody<AcceptedJob>(
      await postJson({ source: { path: 'photo.jpg' }, operations: [] }),
    );
    await takeJobMessage();
    const result = await adminFetch(`${base}/v1/jobs/${id}/result`);
    expect(result.status).toBe(409);
    expect((await readError(result)).message).toContain('queued');
  });

  it("serves a finished job's output with its content type", async () => {
    const { id } = await readBody<AcceptedJob>(
      await postJson({
        source: { path: 'photo.jpg' },
        operations: [],
        output: { format: 'png' },
      }),
    );
    await takeJobMessage();
    const png = await makeImage(12, 10, 'png');
    const key = `outputs/${id}`;
    await new FilesystemBlobStorage(storageDir).put(key, png);
    const events = new JobEventsRepository(pool);
    const at = new Date().toISOString();
    await events.record([
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
            width: 12,
            height: 10,
            sizeBytes: png.length,
          },
        ],
      },
    ]);
    const result = await adminFetch(`${base}/v1/jobs/${id}/result`);
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await result.arrayBuffer()).equals(png)).toBe(true);
  });

  /**
   * A job accepted through the API and failed by a (recorded) worker outcome.
   */
  async function failedJob(): Promise<string> {
    const { id } = await readBody<AcceptedJob>(
      await postJson({
        source: { path: 'photo.jpg' },
        operations: [{ op: 'flip' }],
      }),
    );
    expect((await takeJobMessage()).properties.messageId).toBe(id);
    const at = new Date().toISOString();
    await new JobEventsRepository(pool).record([
      {
        eventId: jobEventId(id, 1, 'failed', 1),
        jobId: id,
        type: 'failed',
        attempt: 1,
        delivery: 1,
        workerId: 'w',
        at,
        startedAt: at,
        error: { code: 'SOURCE_UNAVAILABLE', message: 'Gave up after 4 tries' },
      },
    ]);
    return id;
  }

  /** The job's timeline as the API shows it, as `type/attempt`. */
  const timelineOf = async (id: string) => {
    const response = await adminFetch(`${base}/v1/jobs/${id}/events`);
    expect(response.status).toBe(200);
    return (await readBody<JobEventView[]>(response)).map(
      (event) => `${event.type}/${event.attempt}`,
    );
  };

  it('runs a failed job again as its next attempt, recorded in its timeline; only a failed one', async () => {
    const id = await failedJob();
    const response = await adminFetch(`${base}/v1/jobs/${id}/retry`, {
      method: 'POST',
    });
    expect(response.status).toBe(202);
    expect(await readBody(response)).toEqual({
      id,
      status: 'queued',
      attempt: 2,
    });
    expect(
      JSON.parse((await takeJobMessage()).content.toString()),
    ).toMatchObject({ jobId: id, attempt: 2, operations: [{ op: 'flip' }] });
    expect(
      await readBody(await adminFetch(`${base}/v1/jobs/${id}`)),
    ).toMatchObject({
      status: 'queued',
      attempt: 2,
      error: null,
      finishedAt: null,
    });
    expect(await timelineOf(id)).toEqual([
      'queued/1',
      'started/1',
      'failed/1',
      'retried/2',
    ]);
    const [, , failedEvent, retried] = await readBody<JobEventView[]>(
      await adminFetch(`${base}/v1/jobs/${id}/events`),
    );
    expect(failedEvent).toMatchObject({
      type: 'failed',
      delivery: 1,
      workerId: 'w',
      detail: { code: 'SOURCE_UNAVAILABLE' },
    });
    expect(retried).toMatchObject({
      type: 'retried',
      delivery: null,
      detail: { reason: 'retried by an operator', previousStatus: 'failed' },
    });
    expect(
      (
        await adminFetch(
          `${base}/v1/jobs/6bd11ae1-d21c-4d55-b97e-56168f81701b/events`,
        )
      ).status,
    ).toBe(404);

    // A late event of the first run changes nothing; the second run's outcome
    // does.
    const at = new Date().toISOString();
    const events = new JobEventsRepository(pool);
    await events.record([
      {
        eventId: `${id}/1/started/9`,
        jobId: id,
        type: 'started',
        attempt: 1,
        delivery: 9,
        workerId: 'late',
        at,
      },
    ]);
    expect(
      (await readBody<JobView>(await adminFetch(`${base}/v1/jobs/${id}`)))
        .status,
    ).toBe('queued');
    await events.record([
      {
        eventId: jobEventId(id, 2, 'succeeded', 1),
        jobId: id,
        type: 'succeeded',
        attempt: 2,
        delivery: 1,
        workerId: 'w',
        at,
        startedAt: at,
        outputs: [
          {
            name: 'default',
            key: 'outputs/x',
            format: 'jpeg',
            width: 1,
            height: 1,
            sizeBytes: 1,
          },
        ],
      },
    ]);
    expect(
      await readBody(await adminFetch(`${base}/v1/jobs/${id}`)),
    ).toMatchObject({ status: 'succeeded', attempt: 2 });

    const again = await adminFetch(`${base}/v1/jobs/${id}/retry`, {
      method: 'POST',
    });
    expect(again.status).toBe(409);
    expect((await readError(again)).message).toBe(
      `job ${id} is succeeded; only a failed job, or one flagged stuck, can be retried`,
    );
    expect(
      (
        await adminFetch(
          `${base}/v1/jobs/6bd11ae1-d21c-4d55-b97e-56168f81701b/retry`,
          { method: 'POST' },
        )
      ).status,
    ).toBe(404);
  });

  it('replays parked job messages as new attempts, and purges them, failing what had not finished', async () => {
    const park = async (messageId: string, body = '{}') => {
      await new Promise<void>((resolve, reject) =>
        confirmChannel.sendToQueue(
          topology.jobsDeadLetterQueue,
          Buffer.from(body),
          { messageId, type: MessageType.imageJob, persistent: true },
          (error?: Error | null) => (error ? reject(error) : resolve()),
        ),
      );
    };
    const failed = await failedJob();
    await park(failed);
    await park('not-a-job-id', 'garbage');
    expect(await readBody(await adminFetch(`${base}/v1/dead-letters`))).toEqual(
      { jobs: 2, events: 0 },
    );
    const replay = await adminFetch(`${base}/v1/dead-letters/jobs/replay`, {
      method: 'POST',
    });
    expect(replay.status).toBe(200);
    expect(await readBody(replay)).toEqual({
      done: [failed],
      kept: [{ messageId: 'not-a-job-id', reason: 'the message names no job' }],
      dropped: [],
    });
    expect(
      JSON.parse((await takeJobMessage()).content.toString()),
    ).toMatchObject({ jobId: failed, attempt: 2 });
    expect(await timelineOf(failed)).toEqual([
      'queued/1',
      'started/1',
      'failed/1',
      'retried/2',
    ]);

    // A job whose message was parked while it looked in progress: purged, it
    // fails with PURGED.
    const { id: waiting } = await readBody<AcceptedJob>(
      await postJson({ source: { path: 'photo.jpg' }, operations: [] }),
    );
    await takeJobMessage();
    await park(waiting);
    const purge = await adminFetch(`${base}/v1/dead-letters/jobs`, {
      method: 'DELETE',
    });
    expect(await readBody(purge)).toEqual({
      done: arrayContaining(['not-a-job-id', waiting]),
      kept: [],
      dropped: [],
    });
    expect(
      await readBody(await adminFetch(`${base}/v1/jobs/${waiting}`)),
    ).toMatchObject({ status: 'failed', error: { code: 'PURGED' } });
    expect(await timelineOf(waiting)).toEqual(['queued/1', 'purged/1']);
    expect(await readBody(await adminFetch(`${base}/v1/dead-letters`))).toEqual(
      { jobs: 0, events: 0 },
    );
  });

  it('lists the jobs stuck in processing, and marks them', async () => {
    const { id } = await readBody<AcceptedJob>(
      await postJson({ source: { path: 'photo.jpg' }, operations: [] }),
    );
    await takeJobMessage();
    const longAgo = new Date(Date.now() - 3600_000).toISOString();
    await new JobEventsRepository(pool).record([
      {
        eventId: jobEventId(id, 1, 'started', 1),
        jobId: id,
        type: 'started',
        attempt: 1,
        delivery: 1,
        workerId: 'gone',
        at: longAgo,
      },
    ]);
    const stuck = await readBody<JobView[]>(
      await adminFetch(`${base}/v1/jobs?stuck=true`),
    );
    expect(stuck.map((job: { id: string }) => job.id)).toEqual([id]);
    expect(stuck[0]).toMatchObject({
      status: 'processing',
      stuck: true,
      workerId: 'gone',
    });
    expect(
      (
        await readBody<JobView[]>(
          await adminFetch(`${base}/v1/jobs?status=queued&limit=1`),
        )
      )[0].stuck,
    ).toBe(false);
  });

  it('serves its OpenAPI description and its docs page, every documented path a route it answers', async () => {
    const page = await adminFetch(`${base}/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui');
    const bundle = await adminFetch(`${base}/docs/swagger-ui-bundle.js`);
    expect([bundle.status, bundle.headers.get('content-type')]).toEqual([
      200,
      'text/javascript; charset=utf-8',
    ]);
    expect((await adminFetch(`${base}/docs/..%2Fpackage.json`)).status).toBe(
      404,
    );
    const document = await readBody<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    }>(await adminFetch(`${base}/docs-json`));
    expect(document.openapi).toBe('3.1.0');
    const fastify = app.getHttpAdapter().getInstance();
    const documented = Object.entries(document.paths).flatMap(
      ([path, methods]) =>
        Object.keys(methods).map((method) => ({
          method: method.toUpperCase(),
          url: path.replace(/\{(\w+)\}/g, ':$1'),
        })),
    );
    expect(documented.length).toBeGreaterThanOrEqual(14);
    for (const route of documented)
      expect([route.method, route.url, fastify.hasRoute(route)]).toEqual([
        route.method,
        route.url,
        true,
      ]);
  });

  it('lists recent jobs newest first, filtered by status', async () => {
    const response = await adminFetch(`${base}/v1/jobs?status=queued&limit=2`);
    expect(response.status).toBe(200);
    const jobs = await readBody<JobView[]>(response);
    expect(jobs).toHaveLength(2);
    expect(
      jobs.every((job: { status: string }) => job.status === 'queued'),
    ).toBe(true);
    expect(Date.parse(jobs[0].createdAt)).toBeGreaterThanOrEqual(
      Date.parse(jobs[1].createdAt),
    );
    expect((await adminFetch(`${base}/v1/jobs?status=lost`)).status).toBe(400);
    expect((await adminFetch(`${base}/v1/jobs?limit=0`)).status).toBe(400);
  });

  it('is ready while both dependencies answer', async () => {
    const ready = await adminFetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect((await readBody<HealthCheckResult>(ready)).info).toEqual({
      rabbitmq: { status: 'up' },
      postgres: { status: 'up' },
    });
    expect((await adminFetch(`${base}/health/live`)).status).toBe(200);
  });

  it('recovers by itself when the broker drops its connection', async () => {
    expect(await dropBrokerConnections(`${topology.prefix} producer`)).toBe(1);
    const accepted = await waitFor(
      async () => {
        const response = await postJson({
          source: { path: 'photo.jpg' },
          operations: [],
        });
        return response.status === 202
          ? response
          : (expect(response.status).toBe(503), undefined);
      },
      20_000,
      'the producer to accept jobs again',
    );
    expect(accepted.status).toBe(202);
    await takeJobMessage();
    expect((await adminFetch(`${base}/health/ready`)).status).toBe(200);
  });

  // Last: it takes the broker connection away for good.
  it('answers 503, never 202, when the broker is unreachable, and leaves no job or upload behind', async () => {
    await app.get(AmqpConnection).close();
    const before = await jobCount();
    const uploadsBefore = uploads().length;
    const json = await postJson({
      source: { path: 'photo.jpg' },
      operations: [],
    });
    expect(json.status).toBe(503);
    const upload = await postForm({
      image: new Blob([await makeImage(30, 30)]),
      operations: '[]',
    });
    expect(upload.status).toBe(503);
    expect(await jobCount()).toBe(before);
    expect(uploads()).toHaveLength(uploadsBefore);
    expect((await adminFetch(`${base}/health/ready`)).status).toBe(503);
  });
});
