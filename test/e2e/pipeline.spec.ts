import { JobView } from '@pipeline/contracts';
import { Topology } from '@pipeline/messaging';
import { connect } from 'amqplib';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'pg';
import sharp from 'sharp';
import { bombPng, makeImage } from '../support/images';
import { PrometheusText } from '../support/prometheus-text';
import { sampleNamesOf, unknownMetrics } from '../support/monitoring';
import { adminFetch, fetchAs, TEST_ADMIN_KEY } from '../support/api-keys';
import {
  AMQP_URL,
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';
import { RunningStack, startStack } from '../support/stack';
import { freePortBlock } from '../support/ports';
import { STACK_PORTS } from '../support/stack';
import { APPS, entryOf } from '../../scripts/dist-layout';

/**
 * The whole product as users run it: `npm start`'s launcher starts the built
 * producer, two image workers and the results writer as separate processes
 * against the real broker and database; jobs go in over HTTP and come out as
 * rows and files.
 */
describe('pipeline end to end (separate processes)', () => {
  const prefix = uniqueName('e2e');
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let stack: RunningStack | undefined;
  let pool: Pool;
  let port: number;

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    port = await freePortBlock(STACK_PORTS);
    stack = await startStack(
      {
        AMQP_PREFIX: prefix,
        WORKERS: '2',
        DATABASE_URL: database.url,
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: join(folder.path, 'images'),
        WORKER_PREFETCH: '2',
        HEARTBEAT_INTERVAL_S: '1',
        LOG_LEVEL: 'debug',
      },
      port,
    );
    pool = new Pool({ connectionString: database.url });
  });

  afterAll(async () => {
    if (stack) await stack.stop();
    await pool?.end();
    await deleteTopology(new Topology(prefix, 1));
    await database.drop();
    await folder.remove();
  });

  it('processes a batch of uploads and folder images on both workers, one row per job, outputs as asked', async () => {
    const { baseUrl } = stack!;
    // Twelve inputs of different sizes and formats; half uploaded, half named
    // in the images folder.
    const inputs = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const width = 300 + i * 40;
        const height = 200 + i * 25;
        const format = (['jpeg', 'png', 'webp'] as const)[i % 3];
        return {
          i,
          width,
          height,
          format,
          bytes: await makeImage(width, height, format),
        };
      }),
    );
    const submitted = await Promise.all(
      inputs.map(async ({ i, format, bytes }) => {
        const operations = [{ op: 'resize', width: 160 }, { op: 'sharpen' }];
        const output = i % 4 === 0 ? { format: 'webp', quality: 70 } : {};
        let response: Response;
        if (i % 2 === 0) {
          const form = new FormData();
          form.append('image', new Blob([bytes]), `in-${i}.${format}`);
          form.append('operations', JSON.stringify(operations));
          form.append('output', JSON.stringify(output));
          response = await adminFetch(`${baseUrl}/v1/jobs`, {
            method: 'POST',
            body: form,
          });
        } else {
          await writeFile(
            join(folder.path, 'images', `in-${i}.${format}`),
            bytes,
          );
          response = await adminFetch(`${baseUrl}/v1/jobs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              source: { path: `in-${i}.${format}` },
              operations,
              output,
            }),
          });
        }
        expect(response.status).toBe(202);
        const { id } = (await response.json()) as { id: string };
        return { id, expectedFormat: output.format ?? format, ...inputs[i] };
      }),
    );

    const finished = await waitFor(
      async () => {
        const jobs: JobView[] = await Promise.all(
          submitted.map(
            async ({ id }) =>
              (
                await adminFetch(`${baseUrl}/v1/jobs/${id}`)
              ).json() as Promise<JobView>,
          ),
        );
        return jobs.every(
          (job) => job.status === 'succeeded' || job.status === 'failed',
        )
          ? jobs
          : undefined;
      },
      90_000,
      'every job to finish',
    );

    expect(finished.map((job) => job.status)).toEqual(
      submitted.map(() => 'succeeded'),
    );
    for (const [index, job] of finished.entries()) {
      const input = submitted[index];
      const expectedHeight = Math.round((input.height * 160) / input.width);
      expect(job.output).toEqual({
        format: input.expectedFormat,
        width: 160,
        height: expectedHeight,
        sizeBytes: job.output?.sizeBytes,
      });
      expect(job.output?.sizeBytes).toBeGreaterThan(0);
      const result = await adminFetch(`${baseUrl}/v1/jobs/${job.id}/result`);
      expect(result.status).toBe(200);
      expect(result.headers.get('content-type')).toBe(
        `image/${input.expectedFormat}`,
      );
      const bytes = Buffer.from(await result.arrayBuffer());
      expect(bytes.length).toBe(job.output!.sizeBytes);
      const decoded = await sharp(bytes).metadata();
      expect({
        format: decoded.format,
        width: decoded.width,
        height: decoded.height,
      }).toEqual({
        format: input.expectedFormat,
        width: 160,
        height: expectedHeight,
      });
    }

    const ids = submitted.map((s) => s.id);
    const { rows } = await pool.query<{
      id: string;
      copies: number;
      worker_id: string | null;
    }>(
      'SELECT id, count(*) OVER (PARTITION BY id)::int AS copies, worker_id FROM jobs WHERE id = ANY($1::uuid[])',
      [ids],
    );
    expect(rows).toHaveLength(12);
    expect(rows.every((row) => row.copies === 1)).toBe(true);
    expect(new Set(rows.map((row) => row.worker_id))).toEqual(
      new Set(['worker-1', 'worker-2']),
    );

    const { rows: timeline } = await pool.query<{
      job_id: string;
      types: string[];
    }>(
      `SELECT job_id, array_agg(type ORDER BY at, recorded_at) AS types FROM job_events WHERE job_id = ANY($1::uuid[]) GROUP BY job_id`,
      [ids],
    );
    expect(timeline.map((row) => row.types)).toEqual(
      ids.map(() => ['queued', 'started', 'succeeded']),
    );
  });

  it('logs one JSON line per step with the job id, and carries the request id from HTTP through the messages to the writer', async () => {
    const { baseUrl } = stack!;
    await writeFile(
      join(folder.path, 'images', 'traced.jpg'),
      await makeImage(60, 40),
    );
    const response = await adminFetch(`${baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-request-id': 'trace-e2e-42',
      },
      body: JSON.stringify({
        source: { path: 'traced.jpg' },
        operations: [{ op: 'flip' }],
      }),
    });
    expect(response.status).toBe(202);
    expect(response.headers.get('x-request-id')).toBe('trace-e2e-42');
    const { id } = (await response.json()) as { id: string };
    /**
     * Log lines about the job, by the process that wrote them; each line is one
     * JSON object.
     */
    const linesAbout = () =>
      stack!
        .output()
        .split('\n')
        .filter((line) => line.includes(id))
        .map((line) => {
          const [, process, json] = /^\[([\w-]+)\] (\{.*\})$/.exec(line) ?? [];
          return {
            process,
            entry: JSON.parse(json) as { message: Record<string, unknown> },
          };
        });
    const lines = await waitFor(
      () => {
        const found = linesAbout();
        return Promise.resolve(
          found.some(
            (line) =>
              line.process === 'writer' &&
              line.entry.message.type === 'succeeded',
          )
            ? found
            : undefined,
        );
      },
      20_000,
      'the writer to log the outcome',
    );
    const messages: Array<Record<string, unknown>> = lines.map((line) => ({
      process: line.process.replace(/-\d$/, ''),
      ...line.entry.message,
    }));
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          process: 'producer',
          msg: 'job accepted',
          jobId: id,
          correlationId: 'trace-e2e-42',
        }),
        expect.objectContaining({
          process: 'worker',
          msg: 'job succeeded',
          jobId: id,
          correlationId: 'trace-e2e-42',
          attempt: 1,
          delivery: 1,
        }),
        expect.objectContaining({
          process: 'writer',
          msg: 'event recorded',
          jobId: id,
          type: 'succeeded',
          correlationId: 'trace-e2e-42',
        }),
      ]),
    );
    expect(
      messages.every(
        (message) =>
          message.jobId === id && message.correlationId === 'trace-e2e-42',
      ),
    ).toBe(true);
  });

  it('makes several outputs from one upload, each stored, listed, downloadable by name and a row of its own', async () => {
    const { baseUrl } = stack!;
    const form = new FormData();
    form.append(
      'image',
      new Blob([await makeImage(400, 300, 'jpeg')]),
      'photo.jpg',
    );
    form.append('operations', JSON.stringify([{ op: 'rotate', angle: 90 }]));
    form.append(
      'outputs',
      JSON.stringify([
        { name: 'thumb', preset: 'thumbnail' },
        {
          name: 'large',
          operations: [{ op: 'resize', width: 150 }],
          format: 'avif',
          quality: 60,
        },
        { name: 'original', format: 'png' },
      ]),
    );
    const response = await adminFetch(`${baseUrl}/v1/jobs`, {
      method: 'POST',
      body: form,
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const job = await waitFor(
      async () => {
        const current = (await (
          await adminFetch(`${baseUrl}/v1/jobs/${id}`)
        ).json()) as JobView;
        return current.status === 'succeeded' || current.status === 'failed'
          ? current
          : undefined;
      },
      30_000,
      'the variant job to finish',
    );
    // Rotated once, before every output: 300 wide, 400 high.
    const expected = [
      { name: 'thumb', format: 'webp', width: 320, height: 320 },
      { name: 'large', format: 'avif', width: 150, height: 200 },
      { name: 'original', format: 'png', width: 300, height: 400 },
    ];
    expect(job).toMatchObject({
      status: 'succeeded',
      output: { format: 'webp', width: 320, height: 320 },
    });
    expect(
      job.outputs.map(({ sizeBytes: _size, ...output }) => output),
    ).toEqual(expected);
    expect(job.outputs.every((output) => output.sizeBytes > 0)).toBe(true);
    expect(job.variants!.map((variant) => variant.name)).toEqual([
      'thumb',
      'large',
      'original',
    ]);
    for (const [index, output] of expected.entries()) {
      const result = await adminFetch(
        `${baseUrl}/v1/jobs/${id}/result/${output.name}`,
      );
      expect(result.status).toBe(200);
      expect(result.headers.get('content-type')).toBe(`image/${output.format}`);
      const bytes = Buffer.from(await result.arrayBuffer());
      expect(bytes.length).toBe(job.outputs[index].sizeBytes);
      const decoded = await sharp(bytes).metadata();
      expect({
        format: decoded.format === 'heif' ? 'avif' : decoded.format,
        width: decoded.width,
        height: decoded.height,
      }).toEqual({
        format: output.format,
        width: output.width,
        height: output.height,
      });
    }
    expect(
      (await adminFetch(`${baseUrl}/v1/jobs/${id}/result/missing`)).status,
    ).toBe(404);
    const { rows } = await pool.query(
      'SELECT name, format, width, height FROM job_outputs WHERE job_id = $1 ORDER BY position',
      [id],
    );
    expect(rows).toEqual(expected);
  });

  it('reports the queues, the jobs by status, the throughput and both workers with their heartbeats', async () => {
    const { baseUrl } = stack!;
    const stats = await waitFor(
      async () => {
        const current = (await (
          await adminFetch(`${baseUrl}/v1/stats`)
        ).json()) as {
          queues: {
            jobs: { ready: number; consumers: number };
            retries: unknown[];
          };
          jobs: Record<string, number>;
          throughput: { succeeded: number; perSecond: number };
          workers: Array<{
            id: string;
            gone: boolean;
            heartbeatAgeSeconds: number;
            jobsSucceeded: number;
            inFlight: number;
          }>;
        };
        return current.workers.length === 2 &&
          current.workers.every((worker) => worker.jobsSucceeded > 0)
          ? current
          : undefined;
      },
      20_000,
      'both workers to report jobs done in a heartbeat',
    );
    expect(stats.queues.jobs).toMatchObject({
      queue: `${prefix}.jobs`,
      consumers: 2,
    });
    expect(stats.queues.retries).toHaveLength(3);
    const { rows } = await pool.query<{ succeeded: number }>(
      `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded FROM jobs`,
    );
    expect(stats.jobs.succeeded).toBe(rows[0].succeeded);
    expect(stats.throughput.succeeded).toBeGreaterThan(0);
    expect(stats.workers.map((worker) => worker.id).sort()).toEqual([
      'worker-1',
      'worker-2',
    ]);
    expect(
      stats.workers.every(
        (worker) => !worker.gone && worker.heartbeatAgeSeconds < 15,
      ),
    ).toBe(true);
  });

  it('fails an unreadable image with a clear error, and the workers keep going', async () => {
    const { baseUrl } = stack!;
    await writeFile(
      join(folder.path, 'images', 'broken.jpg'),
      Buffer.concat([
        Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
        Buffer.alloc(200, 7),
      ]),
    );
    const broken = (await (
      await adminFetch(`${baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          source: { path: 'broken.jpg' },
          operations: [],
        }),
      })
    ).json()) as { id: string };
    const form = new FormData();
    form.append('image', new Blob([await makeImage(64, 64)]), 'ok.jpg');
    form.append('operations', '[{"op":"flip"}]');
    const healthy = (await (
      await adminFetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form })
    ).json()) as { id: string };

    const jobs = await waitFor(
      async () => {
        const both: JobView[] = await Promise.all(
          [broken.id, healthy.id].map(
            async (id) =>
              (
                await adminFetch(`${baseUrl}/v1/jobs/${id}`)
              ).json() as Promise<JobView>,
          ),
        );
        return both.every(
          (job) => job.status === 'succeeded' || job.status === 'failed',
        )
          ? both
          : undefined;
      },
      30_000,
      'both jobs to finish',
    );
    expect(jobs[0]).toMatchObject({
      status: 'failed',
      error: { code: 'INVALID_IMAGE' },
    });
    expect(jobs[0].error?.message).toContain('could not be decoded');
    expect(jobs[1]).toMatchObject({ status: 'succeeded' });
    expect(
      (await adminFetch(`${baseUrl}/v1/jobs/${broken.id}/result`)).status,
    ).toBe(409);
  });

  it('every app serves Prometheus metrics that parse: requests, accepted jobs, queue depths, job durations, batches', async () => {
    const scrape = async (appPort: number) =>
      new PrometheusText(
        await (await adminFetch(`http://127.0.0.1:${appPort}/metrics`)).text(),
      );
    expect((await adminFetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(
      404,
    );
    const producer = await scrape(stack!.metricsPort);
    expect(
      producer.families.find(
        (family) => family.name === 'pipeline_http_request_duration_seconds',
      )?.type,
    ).toBe('HISTOGRAM');
    expect(
      producer.value('pipeline_http_request_duration_seconds_count', {
        app: 'producer',
        method: 'POST',
        route: '/v1/jobs',
        status: '202',
      }),
    ).toBeGreaterThanOrEqual(12);
    expect(
      producer.value('pipeline_jobs_accepted_total', {
        app: 'producer',
        source: 'upload',
      }),
    ).toBeGreaterThanOrEqual(6);
    expect(
      producer.value('pipeline_queue_consumers', {
        app: 'producer',
        queue: `${prefix}.jobs`,
      }),
    ).toBe(2);
    expect(
      producer.value('pipeline_queue_messages_ready', {
        app: 'producer',
        queue: `${prefix}.jobs.dead`,
      }),
    ).toBe(0);
    expect(
      producer.value('process_cpu_seconds_total', { app: 'producer' }),
    ).toBeGreaterThan(0);
    const workers = await Promise.all([scrape(port + 1), scrape(port + 2)]);
    const resized = workers.map(
      (text) =>
        text.value('pipeline_job_duration_seconds_count', {
          app: 'image-worker',
          operation: 'resize',
          outcome: 'succeeded',
        }) ?? 0,
    );
    expect(resized[0] + resized[1]).toBeGreaterThanOrEqual(12);
    const invalid = workers.map(
      (text) =>
        text.value('pipeline_job_failures_total', { code: 'INVALID_IMAGE' }) ??
        0,
    );
    expect(invalid[0] + invalid[1]).toBe(1);
    expect(
      workers[0].value('pipeline_worker_utilisation_ratio', {
        app: 'image-worker',
      }),
    ).toBe(0);
    expect(
      workers[0].value('pipeline_worker_jobs_in_flight', {
        app: 'image-worker',
      }),
    ).toBe(0);
    const writer = await scrape(port + 3);
    expect(
      writer.value('pipeline_writer_batch_size_count', {
        app: 'results-writer',
      }),
    ).toBeGreaterThan(0);
    expect(
      writer.value('pipeline_writer_commit_duration_seconds_sum', {
        app: 'results-writer',
      }),
    ).toBeGreaterThan(0);
  });

  it('every metric the Grafana dashboard and the alert rules read is in the scrapes of the running apps', async () => {
    const scrapes = await Promise.all(
      [stack!.metricsPort, port + 1, port + 2, port + 3].map(
        async (appPort) =>
          new PrometheusText(
            await (
              await adminFetch(`http://127.0.0.1:${appPort}/metrics`)
            ).text(),
          ),
      ),
    );
    const exported = sampleNamesOf(scrapes.flatMap((text) => text.families));
    expect(exported).toContain('pipeline_job_duration_seconds_bucket');
    expect(unknownMetrics(exported)).toEqual([]);
  });

  it('hostile inputs end in a clear 4xx or a failed job with its code, and the workers keep serving', async () => {
    const { baseUrl } = stack!;
    const upload = async (bytes: Buffer, name: string) => {
      const form = new FormData();
      form.append('image', new Blob([bytes]), name);
      form.append('operations', '[{"op":"resize","width":64}]');
      return adminFetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form });
    };
    const svgWithEntity = Buffer.from(
      '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
    );
    const refused = await Promise.all([
      upload(Buffer.alloc(0), 'empty.jpg'),
      upload(Buffer.from('just some text, named like a photo'), 'text.jpg'),
      upload(svgWithEntity, 'entity.svg'),
      upload(
        Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)),
        'random.jpg',
      ),
    ]);
    expect(refused.map((response) => response.status)).toEqual([
      400, 415, 415, 415,
    ]);

    const photo = await makeImage(400, 300);
    const accepted = await Promise.all([
      upload(bombPng(), 'bomb.png'),
      upload(photo.subarray(0, Math.floor(photo.length / 2)), 'truncated.jpg'),
      upload(photo, 'fine.jpg'),
    ]);
    expect(accepted.map((response) => response.status)).toEqual([
      202, 202, 202,
    ]);
    const ids = await Promise.all(
      accepted.map(
        async (response) => ((await response.json()) as { id: string }).id,
      ),
    );
    const jobs = await waitFor(
      async () => {
        const all: JobView[] = await Promise.all(
          ids.map(
            async (id) =>
              (
                await adminFetch(`${baseUrl}/v1/jobs/${id}`)
              ).json() as Promise<JobView>,
          ),
        );
        return all.every(
          (job) => job.status === 'succeeded' || job.status === 'failed',
        )
          ? all
          : undefined;
      },
      30_000,
      'the hostile jobs to finish',
    );
    expect(jobs.map((job) => job.error?.code ?? job.status)).toEqual([
      'IMAGE_TOO_LARGE',
      'INVALID_IMAGE',
      'succeeded',
    ]);
  });

  it('the CLI submits a folder with a progress bar, waits, verifies the outputs and summarises; fails clearly', async () => {
    const { baseUrl } = stack!;
    const cli = (args: string[]) =>
      spawnSync(
        process.execPath,
        [join(__dirname, '..', '..', 'bin', 'pipeline.js'), ...args],
        {
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, PIPELINE_API_KEY: TEST_ADMIN_KEY },
        },
      );
    const inputs = join(folder.path, 'cli-inputs');
    await mkdir(inputs);
    for (let i = 0; i < 4; i++)
      await writeFile(
        join(inputs, `photo-${i}.jpg`),
        await makeImage(100 + i * 10, 80),
      );
    const out = join(folder.path, 'cli-outputs');
    const run = cli([
      'submit',
      inputs,
      '--op',
      'resize:width=32',
      '--op',
      'grayscale',
      '--format',
      'webp',
      '--out',
      out,
      '--url',
      baseUrl,
    ]);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(
      'upload  [##############################] 4/4',
    );
    expect(run.stderr).toContain(
      'jobs    [##############################] 4/4',
    );
    expect(run.stdout).toMatch(
      /^succeeded 4, failed 0, in [\d.]+ s \([\d.]+ images\/s\)$/m,
    );
    expect(run.stdout).toMatch(/^ {2}worker-\d: \d jobs$/m);
    expect(run.stdout).toContain('outputs verified: 4');
    // The summary's per-worker counts are the database's.
    const perWorker = Object.fromEntries(
      [...run.stdout.matchAll(/^ {2}(worker-\d): (\d+) jobs$/gm)].map(
        (match) => [match[1], Number(match[2])],
      ),
    );
    const { rows: byWorker } = await pool.query<{
      worker_id: string;
      jobs: number;
    }>(
      `SELECT worker_id, count(*)::int AS jobs FROM jobs WHERE source->>'kind' = 'upload' AND created_at > now() - interval '1 minute' AND operations @> '[{"op":"grayscale"}]' GROUP BY worker_id`,
    );
    expect(perWorker).toEqual(
      Object.fromEntries(byWorker.map((row) => [row.worker_id, row.jobs])),
    );
    const saved = await readdir(out);
    expect(saved).toHaveLength(4);
    expect((await sharp(join(out, saved[0])).metadata()).width).toBe(32);

    const failures = join(folder.path, 'cli-failures');
    await mkdir(failures);
    await writeFile(
      join(failures, 'truncated.jpg'),
      Buffer.concat([
        Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
        Buffer.alloc(200, 7),
      ]),
    );
    await writeFile(join(failures, 'text.jpg'), 'not an image');
    await writeFile(join(failures, 'fine.jpg'), await makeImage(40, 30));
    const failing = cli(['submit', failures, '--url', baseUrl]);
    expect(failing.status).toBe(1);
    expect(failing.stdout).toContain('succeeded 1, failed 1');
    expect(failing.stdout).toMatch(/failed [0-9a-f-]{36}: INVALID_IMAGE/);
    expect(failing.stdout).toMatch(
      /rejected .*text\.jpg: POST \/v1\/jobs: 415 /,
    );

    const {
      rows: [submitted],
    } = await pool.query<{ id: string }>(
      `SELECT id FROM jobs WHERE operations @> '[{"op":"grayscale"}]' AND source->>'kind' = 'upload' ORDER BY created_at DESC LIMIT 1`,
    );
    const status = cli(['status', submitted.id, '--url', baseUrl]);
    expect(status.status).toBe(0);
    const shown = JSON.parse(status.stdout) as {
      id: string;
      status: string;
      events: Array<{ type: string }>;
    };
    expect(shown).toMatchObject({ id: submitted.id, status: 'succeeded' });
    expect(shown.events.map((event) => event.type)).toEqual([
      'queued',
      'started',
      'succeeded',
    ]);
    const unreachable = cli([
      'status',
      '6bd11ae1-d21c-4d55-b97e-56168f81701b',
      '--url',
      'http://127.0.0.1:2',
    ]);
    expect(unreachable.status).toBe(2);
    expect(unreachable.stderr).toBe(
      'pipeline: cannot reach the producer at http://127.0.0.1:2: ECONNREFUSED\n',
    );
    const unknown = cli([
      'status',
      '6bd11ae1-d21c-4d55-b97e-56168f81701b',
      '--url',
      baseUrl,
    ]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain(
      '404 job 6bd11ae1-d21c-4d55-b97e-56168f81701b does not exist',
    );
    expect(
      cli(['submit', '--op', 'Bad', inputs, '--url', baseUrl]).stderr,
    ).toContain('--op "Bad": expected name');
  });

  const createdKeys: string[] = [];

  it('the CLI creates, lists, rotates and revokes API keys, calls with a key from a flag, and a key sees only its own jobs', async () => {
    const { baseUrl } = stack!;
    const run = (args: string[], apiKey?: string) =>
      spawnSync(
        process.execPath,
        [
          join(__dirname, '..', '..', 'bin', 'pipeline.js'),
          ...args,
          '--url',
          baseUrl,
        ],
        {
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, PIPELINE_API_KEY: apiKey },
        },
      );
    const anonymous = run(['keys', 'list']);
    expect(anonymous.status).toBe(2);
    expect(anonymous.stderr).toContain(
      'GET /v1/keys: 401 an API key is required',
    );
    expect(anonymous.stderr).toContain(
      '(set PIPELINE_API_KEY or pass --api-key)',
    );

    const created = run(
      [
        'keys',
        'create',
        '--name',
        'e2e-uploader',
        '--scope',
        'jobs:write',
        '--scope',
        'jobs:read',
      ],
      TEST_ADMIN_KEY,
    );
    expect(created.status).toBe(0);
    expect(created.stderr).toContain('The key is shown this once');
    const key = JSON.parse(created.stdout) as {
      id: string;
      key: string;
      scopes: string[];
    };
    expect(key.scopes).toEqual(['jobs:write', 'jobs:read']);
    createdKeys.push(key.key);

    const photo = join(folder.path, 'key-photo.jpg');
    await writeFile(photo, await makeImage(50, 40));
    const submitted = run(['submit', photo, '--no-wait', '--api-key', key.key]);
    expect(submitted.status).toBe(0);
    const jobId = submitted.stdout.trim();
    expect(
      (
        await pool.query<{ api_key_id: string }>(
          'SELECT api_key_id FROM jobs WHERE id = $1',
          [jobId],
        )
      ).rows[0].api_key_id,
    ).toBe(key.id);
    expect(run(['wait', jobId, '--api-key', key.key]).stdout).toBe(
      `${jobId} succeeded\n`,
    );
    const tooLate = run(['cancel', jobId, '--api-key', key.key]);
    expect(tooLate.status).toBe(2);
    expect(tooLate.stderr).toContain(
      `409 job ${jobId} is succeeded already; only a queued or processing job can be cancelled`,
    );
    const {
      rows: [adminJob],
    } = await pool.query<{ id: string }>(
      "SELECT id FROM jobs WHERE api_key_id = '00000000-0000-4000-8000-000000000000' LIMIT 1",
    );
    const hidden = run(['status', adminJob.id, '--api-key', key.key]);
    expect(hidden.status).toBe(2);
    expect(hidden.stderr).toContain(`404 job ${adminJob.id} does not exist`);
    expect(run(['keys', 'list', '--api-key', key.key]).stderr).toContain(
      '403 this API key lacks the scope admin',
    );

    const listed = run(['keys', 'list'], TEST_ADMIN_KEY);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(
        `^${key.id} +e2e-uploader +jobs:write,jobs:read +ipk_[0-9a-f]{16}_… +last used 20`,
        'm',
      ),
    );
    expect(listed.stdout).toMatch(
      /bootstrap admin \(ADMIN_API_KEY\) +admin +ADMIN_API_KEY/,
    );
    expect(listed.stdout).not.toContain(key.key);

    // A key allowed 2 jobs in flight still gets a folder of 5 through: the CLI
    // waits out each 429 as Retry-After says.
    const limited = JSON.parse(
      run(
        [
          'keys',
          'create',
          '--name',
          'e2e-limited',
          '--scope',
          'jobs:write',
          '--scope',
          'jobs:read',
          '--jobs-in-flight',
          '2',
          '--stored-bytes',
          '100000000',
          '--jobs-per-day',
          '6',
        ],
        TEST_ADMIN_KEY,
      ).stdout,
    ) as { id: string; key: string; limits: object };
    createdKeys.push(limited.key);
    expect(limited.limits).toEqual({
      requestsPerWindow: null,
      jobsInFlight: 2,
      storedBytes: 100_000_000,
      jobsPerDay: 6,
    });
    const five = join(folder.path, 'five');
    await mkdir(five);
    for (let i = 0; i < 5; i++)
      await writeFile(join(five, `p${i}.jpg`), await makeImage(40 + i, 30));
    const throttled = run(['submit', five, '--concurrency', '5'], limited.key);
    expect(throttled.stdout).toMatch(/^succeeded 5, failed 0/m);
    expect(throttled.status).toBe(0);
    // Its jobs per day are a wait of hours when used up: said at once, not
    // waited out.
    const overDay = run(['submit', five, '--concurrency', '1'], limited.key);
    expect(overDay.status).not.toBe(0);
    expect(overDay.stdout + overDay.stderr).toContain(
      'jobs-per-day quota is used up: it submitted 6 jobs today (UTC) and may submit 6 a day',
    );

    // Rotated with no overlap and an expiry: the old secret stops at once, the
    // new one sees the key's jobs.
    const rotation = run(
      ['keys', 'rotate', key.id, '--overlap', '0s', '--expires-in', '30d'],
      TEST_ADMIN_KEY,
    );
    expect(rotation.status).toBe(0);
    expect(rotation.stderr).toContain('The new key is shown this once');
    const rotated = JSON.parse(rotation.stdout) as {
      id: string;
      key: string;
      expiresAt: string;
    };
    createdKeys.push(rotated.key);
    expect(rotated.id).toBe(key.id);
    expect(
      Math.abs(
        new Date(rotated.expiresAt).getTime() - Date.now() - 30 * 86_400_000,
      ),
    ).toBeLessThan(60_000);
    expect(run(['status', jobId], key.key).stderr).toContain(
      '401 the API key was rotated and its old secret stopped working at',
    );
    expect(run(['wait', jobId], rotated.key).stdout).toBe(
      `${jobId} succeeded\n`,
    );
    expect(run(['keys', 'list'], TEST_ADMIN_KEY).stdout).toMatch(
      new RegExp(
        `^${key.id} .* last used 20\\S+, expires ${rotated.expiresAt}$`,
        'm',
      ),
    );
    expect(
      run(['keys', 'rotate', key.id, '--overlap', '2 hours'], TEST_ADMIN_KEY)
        .stderr,
    ).toContain('--overlap "2 hours": expected a whole number and a unit');

    expect(run(['keys', 'revoke', key.id], TEST_ADMIN_KEY).stdout).toBe(
      `revoked ${key.id} (e2e-uploader)\n`,
    );
    const audit = run(['audit', '--limit', '3'], TEST_ADMIN_KEY);
    expect(audit.status).toBe(0);
    const lines = audit.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      new RegExp(
        `^\\S+ +bootstrap admin \\(ADMIN_API_KEY\\) +key\\.revoked +${key.id} `,
      ),
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^\\S+ +bootstrap admin \\(ADMIN_API_KEY\\) +key\\.rotated +${key.id} `,
      ),
    );
    expect(lines[2]).toMatch(
      new RegExp(
        `^\\S+ +bootstrap admin \\(ADMIN_API_KEY\\) +key\\.created +${limited.id} `,
      ),
    );
    expect(
      run(['audit', '--action', 'key.created'], TEST_ADMIN_KEY).stdout,
    ).toMatch(new RegExp(`key\\.created +${key.id} `));
    const refused = run(['status', jobId], rotated.key);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(
      '401 the API key is not valid (unknown or revoked)',
    );
  });

  it('gives each process only its own settings: no worker holds the admin key or the database URL', async () => {
    // The launcher's children, as Linux lists them, with the app each runs and
    // its environment.
    const children = (
      await readFile(`/proc/${stack!.pid}/task/${stack!.pid}/children`, 'utf8')
    )
      .trim()
      .split(/\s+/);
    const apps = await Promise.all(
      children.map(async (pid) => {
        const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split(
          '\0',
        );
        const environment = (await readFile(`/proc/${pid}/environ`, 'utf8'))
          .split('\0')
          .map((entry) => entry.split('=')[0]);
        return {
          app: APPS.find((app) => entryOf(app) === command[1]),
          environment,
        };
      }),
    );
    expect(apps.map(({ app }) => app).sort()).toEqual([
      'image-worker',
      'image-worker',
      'producer',
      'results-writer',
    ]);
    const holding = (name: string) =>
      apps
        .filter(({ environment }) => environment.includes(name))
        .map(({ app }) => app)
        .sort();
    expect(holding('ADMIN_API_KEY')).toEqual(['producer']);
    expect(holding('DATABASE_URL')).toEqual(['producer', 'results-writer']);
    expect(holding('WORKERS')).toEqual([]);
    expect(holding('AMQP_PREFIX')).toEqual([
      'image-worker',
      'image-worker',
      'producer',
      'results-writer',
    ]);
    expect(holding('WORKER_PREFETCH')).toEqual([
      'image-worker',
      'image-worker',
    ]);
  });

  it('writes no API key to any log of the run (debug level, every process)', async () => {
    await fetchAs(`ipk_${'0'.repeat(16)}_${'B'.repeat(43)}`)(
      `${stack!.baseUrl}/v1/jobs`,
    );
    const log = stack!.output();
    expect(log).toContain('"msg":"job accepted"');
    expect(log).toContain('Admin API key: from ADMIN_API_KEY');
    for (const secret of [TEST_ADMIN_KEY, ...createdKeys])
      expect(log).not.toContain(secret);
    expect(log).not.toMatch(/ipk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/);
  });

  it('stops cleanly on SIGTERM, leaving no message unacknowledged', async () => {
    const code = await stack!.stop();
    stack = undefined;
    expect(code).toBe(0);
    const broker = await connect(AMQP_URL);
    const channel = await broker.createChannel();
    const jobs = await channel.checkQueue(`${prefix}.jobs`);
    const events = await channel.checkQueue(`${prefix}.events`);
    // What may wait for the next start: only the workers' last heartbeats, sent
    // as they stopped.
    const waiting: Array<{ type: unknown; stopping: unknown }> = [];
    for (
      let message = await channel.get(`${prefix}.events`);
      message;
      message = await channel.get(`${prefix}.events`)
    ) {
      waiting.push({
        type: message.properties.type,
        stopping: (
          JSON.parse(message.content.toString()) as { stopping?: boolean }
        ).stopping,
      });
    }
    await broker.close();
    expect({
      jobs: jobs.messageCount,
      consumers: jobs.consumerCount + events.consumerCount,
    }).toEqual({ jobs: 0, consumers: 0 });
    expect(
      waiting.every(
        (message) =>
          message.type === 'worker.heartbeat' && message.stopping === true,
      ),
    ).toBe(true);
    expect(waiting.length).toBeLessThanOrEqual(2);
  });
});
