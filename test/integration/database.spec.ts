import { JobEventMessage, jobEventId } from '@pipeline/contracts';
import {
  ApiKeysRepository,
  BOOTSTRAP_ADMIN_KEY_ID,
  createPool,
  isTransientDatabaseError,
  JobEventsRepository,
  JobsRepository,
  migrate,
  MIGRATIONS,
} from '@pipeline/database';
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { createTestDatabase, DATABASE_PORT } from '../support/resources';
import { TcpProxy } from '../support/tcp-proxy';

describe('PostgreSQL layer (real database)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: Pool;
  let jobs: JobsRepository;
  let events: JobEventsRepository;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new Pool({ connectionString: database.url, max: 10 });
    jobs = new JobsRepository(pool);
    events = new JobEventsRepository(pool);
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  async function newJob(repository = jobs): Promise<string> {
    const id = randomUUID();
    await repository.insertQueued({
      id,
      apiKeyId: BOOTSTRAP_ADMIN_KEY_ID,
      source: { kind: 'images', path: 'a.jpg' },
      operations: [{ op: 'grayscale' }],
      output: {},
      createdAt: new Date(),
    });
    return id;
  }

  let clock = Date.now();
  /** Events made later in a test happen later, even within one millisecond. */
  function event(
    jobId: string,
    type: JobEventMessage['type'],
    delivery = 1,
    at = new Date((clock = Math.max(clock + 1, Date.now()))),
  ): JobEventMessage {
    return {
      eventId: jobEventId(jobId, 1, type, delivery),
      jobId,
      type,
      attempt: 1,
      delivery,
      workerId: `worker-${delivery}`,
      at: at.toISOString(),
      ...(type === 'succeeded'
        ? {
            outputs: [
              {
                name: 'default',
                key: `outputs/${jobId}`,
                format: 'jpeg' as const,
                width: 10,
                height: 20,
                sizeBytes: 300,
              },
            ],
          }
        : {}),
      ...(type === 'failed'
        ? { error: { code: 'INVALID_IMAGE', message: 'bad bytes' } }
        : {}),
    };
  }

  const timeline = async (jobId: string) =>
    (
      await pool.query<{
        type: string;
        delivery: number | null;
        worker_id: string | null;
      }>(
        'SELECT type, delivery, worker_id FROM job_events WHERE job_id = $1 ORDER BY at, recorded_at',
        [jobId],
      )
    ).rows;

  it('a connection lost between two statements of a transaction fails the next one (transient), the process lives on, and so does the pool', async () => {
    const proxy = new TcpProxy('127.0.0.1', DATABASE_PORT);
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxy.port);
    const appPool = createPool({
      url: viaProxy.toString(),
      poolSize: 2,
      applicationName: 'database-spec',
    });
    try {
      const client = await appPool.connect();
      await client.query('BEGIN');
      // No statement runs on the client when its server goes away: the client
      // itself emits the error.
      proxy.reset();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const failure = await client.query('SELECT 1').then(
        () => null,
        (error: unknown) => error,
      );
      client.release();
      expect(isTransientDatabaseError(failure)).toBe(true);
      expect(
        (await appPool.query<{ one: number }>('SELECT 1 AS one')).rows,
      ).toEqual([{ one: 1 }]);
    } finally {
      await appPool.end();
      await proxy.stop();
    }
  });

  it('migrations are recorded and applying them again does nothing, even from several processes at once', async () => {
    const again = await Promise.all([
      migrate({ connectionString: database.url }),
      migrate({ connectionString: database.url }),
    ]);
    expect(again).toEqual([[], []]);
    const { rows } = await pool.query<{ name: string }>(
      'SELECT name FROM schema_migrations ORDER BY name',
    );
    expect(rows.map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name));
  });

  it('records a submitted job as queued with the first event of its timeline, readable at once', async () => {
    const id = await newJob();
    const job = await jobs.findById(id);
    expect(job).toMatchObject({
      id,
      status: 'queued',
      deliveries: 0,
      operations: [{ op: 'grayscale' }],
      output: null,
      error: null,
      startedAt: null,
    });
    expect(await timeline(id)).toEqual([
      { type: 'queued', delivery: null, worker_id: null },
    ]);
  });

  it("keeps the deliveries' former column equal, for the apps of the previous release during an upgrade", async () => {
    const counts = async (id: string) =>
      (
        await pool.query<{ deliveries: number; attempts: number }>(
          'SELECT deliveries, attempts FROM jobs WHERE id = $1',
          [id],
        )
      ).rows[0];
    const id = await newJob();
    await events.record([event(id, 'started')]);
    expect(await counts(id)).toEqual({ deliveries: 1, attempts: 1 });
    // The previous release's writer adds to the former name.
    await pool.query(
      'UPDATE jobs j SET attempts = j.attempts + 1 WHERE id = $1',
      [id],
    );
    expect(await counts(id)).toEqual({ deliveries: 2, attempts: 2 });
    expect(await jobs.findById(id)).toMatchObject({ deliveries: 2 });
  });

  it('batches concurrent submissions into few statements, and every one is stored', async () => {
    const ids = await Promise.all(Array.from({ length: 200 }, () => newJob()));
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[])',
      [ids],
    );
    expect(rows[0].n).toBe(200);
  });

  it('prepares the statements of every submission and every recorded batch once per connection, and they go on working when reused', async () => {
    const single = new Pool({ connectionString: database.url, max: 1 });
    try {
      const submissions = new JobsRepository(single);
      const recorder = new JobEventsRepository(single);
      const keys = new ApiKeysRepository(single);
      for (let round = 0; round < 2; round++) {
        const id = await newJob(submissions);
        await submissions.markPublished(id);
        const startedAt = event(id, 'started').at;
        const batch = [{ ...event(id, 'succeeded'), startedAt }];
        expect(await recorder.record(batch)).toMatchObject({ recorded: 2 });
        // The common batch's statement fails on purpose for a repeat, and
        // the prepared statement survives it.
        expect(await recorder.record(batch)).toMatchObject({
          recorded: 0,
          duplicates: 2,
        });
        expect(await keys.findLive(`missing-${round}`)).toBeNull();
        const counted = await keys.countRequest(
          BOOTSTRAP_ADMIN_KEY_ID,
          new Date(),
          60_000,
        );
        expect(counted.current).toBeGreaterThan(0);
        expect(await jobs.findById(id)).toMatchObject({
          status: 'succeeded',
          outputs: [{ name: 'default' }],
        });
        const { rows } = await pool.query<{ published: boolean }>(
          'SELECT published_at IS NOT NULL AS published FROM jobs WHERE id = $1',
          [id],
        );
        expect(rows[0].published).toBe(true);
      }
      const { rows } = await single.query<{ name: string }>(
        'SELECT name FROM pg_prepared_statements ORDER BY name',
      );
      expect(rows.map((row) => row.name)).toEqual([
        'count-requests',
        'find-live-keys',
        'insert-queued-jobs',
        'mark-published',
        'record-common-batch',
      ]);
    } finally {
      await single.end();
    }
  });

  it('moves a job through processing to succeeded, with output and timeline', async () => {
    const id = await newJob();
    await events.record([event(id, 'started')]);
    expect(await jobs.findById(id)).toMatchObject({
      status: 'processing',
      deliveries: 1,
      workerId: 'worker-1',
    });
    await events.record([event(id, 'succeeded')]);
    const job = await jobs.findById(id);
    expect(job).toMatchObject({
      status: 'succeeded',
      output: { format: 'jpeg', width: 10, height: 20, sizeBytes: 300 },
    });
    expect(job!.outputs).toEqual([
      {
        name: 'default',
        key: `outputs/${id}`,
        format: 'jpeg',
        width: 10,
        height: 20,
        sizeBytes: 300,
      },
    ]);
    expect(job!.finishedAt).not.toBeNull();
    expect((await timeline(id)).map((e) => e.type)).toEqual([
      'queued',
      'started',
      'succeeded',
    ]);
  });

  it('is idempotent: a redelivered batch changes nothing', async () => {
    const id = await newJob();
    const batch = [event(id, 'started'), event(id, 'failed')];
    const first = await events.record(batch);
    const before = await jobs.findById(id);
    const second = await events.record(batch);
    expect(first).toMatchObject({ recorded: 2, duplicates: 0, orphans: [] });
    expect(second).toMatchObject({ recorded: 0, duplicates: 2, orphans: [] });
    expect(await jobs.findById(id)).toEqual(before);
    expect(before).toMatchObject({
      status: 'failed',
      deliveries: 1,
      error: { code: 'INVALID_IMAGE', message: 'bad bytes' },
    });
    expect(await timeline(id)).toHaveLength(3);
  });

  it('the same event twice in one batch counts once', async () => {
    const id = await newJob();
    const started = event(id, 'started');
    await events.record([started, { ...started }]);
    expect(await jobs.findById(id)).toMatchObject({ deliveries: 1 });
  });

  it('an outcome is final: a late start from a redelivery does not reopen the job', async () => {
    const id = await newJob();
    await events.record([event(id, 'started', 1), event(id, 'succeeded', 1)]);
    await events.record([event(id, 'started', 2)]);
    const job = await jobs.findById(id);
    expect(job!.status).toBe('succeeded');
    expect(
      (await timeline(id)).map((e) => `${e.type}:${e.delivery ?? '-'}`),
    ).toEqual(['queued:-', 'started:1', 'succeeded:1', 'started:2']);
  });

  it('a retry shows the job queued with the last error; a retrying event that arrives after the next try began changes nothing', async () => {
    const id = await newJob();
    const firstTry = event(id, 'started', 1);
    const retrying: JobEventMessage = {
      ...event(id, 'retrying', 1),
      startedAt: firstTry.at,
      error: { code: 'SOURCE_UNAVAILABLE', message: 'HTTP 503' },
    };
    await events.record([retrying]);
    expect(await jobs.findById(id)).toMatchObject({
      status: 'queued',
      error: { code: 'SOURCE_UNAVAILABLE' },
      startedAt: firstTry.at,
    });

    const other = await newJob();
    const otherFirst = event(other, 'started', 1);
    const late: JobEventMessage = {
      ...event(other, 'retrying', 1),
      startedAt: otherFirst.at,
      error: { code: 'SOURCE_UNAVAILABLE', message: 'HTTP 503' },
    };
    const secondTry = event(other, 'started', 2);
    await events.record([secondTry]);
    await events.record([late]);
    expect(await jobs.findById(other)).toMatchObject({
      status: 'processing',
      error: null,
      startedAt: secondTry.at,
      workerId: 'worker-2',
      deliveries: 2,
    });
  });

  it('a second outcome for the same attempt (work redone after a crash) is ignored', async () => {
    const id = await newJob();
    await events.record([event(id, 'started', 1), event(id, 'succeeded', 1)]);
    const redone = { ...event(id, 'succeeded', 2), workerId: 'worker-other' };
    const outcome = await events.record([event(id, 'started', 2), redone]);
    expect(outcome).toMatchObject({ recorded: 1, duplicates: 1 });
    expect(await jobs.findById(id)).toMatchObject({
      status: 'succeeded',
      workerId: 'worker-1',
    });
  });

  it("counts a key's requests per fixed window with the window before, concurrently, and drops older windows", async () => {
    const keys = new ApiKeysRepository(pool);
    const key = await keys.create(
      {
        id: randomUUID(),
        name: 'counted',
        scopes: ['jobs:read'],
        lookupId: randomUUID().replace(/-/g, '').slice(0, 16),
        hash: Buffer.alloc(32),
        limits: {},
        expiresAt: null,
      },
      { apiKeyId: BOOTSTRAP_ADMIN_KEY_ID, requestId: 'req-counted' },
    );
    const windowMs = 60_000;
    const window = (n: number) =>
      new Date(Date.parse('2026-01-01T00:00:00.000Z') + n * windowMs);
    const count = (n: number, times: number) =>
      Promise.all(
        Array.from({ length: times }, () =>
          keys.countRequest(key.id, window(n), windowMs),
        ),
      );

    expect(await count(0, 3)).toEqual(
      [1, 2, 3].map((current) => ({ previous: 0, current })),
    );
    expect(await count(1, 2)).toEqual([
      { previous: 3, current: 1 },
      { previous: 3, current: 2 },
    ]);
    expect(await count(2, 1)).toEqual([{ previous: 2, current: 1 }]);
    // A window after a quiet one: nothing before it.
    expect(await count(4, 1)).toEqual([{ previous: 0, current: 1 }]);
    const { rows } = await pool.query<{ window_start: Date }>(
      'SELECT window_start FROM api_key_usage WHERE api_key_id = $1 ORDER BY window_start',
      [key.id],
    );
    expect(rows.map((row) => row.window_start.toISOString())).toEqual([
      window(4).toISOString(),
    ]);
  });

  it('a cancelled job stays cancelled: the outcome of the worker still busy with it is a repeat, and adds no output', async () => {
    const actor = { apiKeyId: BOOTSTRAP_ADMIN_KEY_ID, requestId: 'req-cancel' };
    const id = await newJob();
    await events.record([event(id, 'started', 1)]);
    expect(await jobs.cancel(id, undefined, actor)).toEqual({ attempt: 1 });
    expect(await jobs.findById(id)).toMatchObject({
      status: 'failed',
      error: { code: 'CANCELLED', message: 'Cancelled before it finished' },
    });
    const late = await events.record([event(id, 'succeeded', 1)]);
    expect(late).toMatchObject({ recorded: 0, duplicates: 1 });
    expect(await jobs.findById(id)).toMatchObject({
      status: 'failed',
      error: { code: 'CANCELLED' },
      outputs: [],
    });
    expect((await timeline(id)).map((row) => row.type)).toEqual([
      'queued',
      'started',
      'failed',
    ]);
    await expect(jobs.cancel(id, undefined, actor)).rejects.toThrow(
      `job ${id} is failed already; only a queued or processing job can be cancelled`,
    );
    // Another key's job is not found, and nothing changes.
    const other = await newJob();
    expect(await jobs.cancel(other, randomUUID(), actor)).toBeNull();
    expect(await jobs.findById(other)).toMatchObject({ status: 'queued' });
  });

  it('records the start an outcome carries, once, whether or not the worker also announced it', async () => {
    const quick = await newJob();
    const startedAt = new Date(
      (clock = Math.max(clock + 1, Date.now())),
    ).toISOString();
    await events.record([{ ...event(quick, 'succeeded'), startedAt }]);
    expect(await jobs.findById(quick)).toMatchObject({
      status: 'succeeded',
      deliveries: 1,
      startedAt,
    });
    expect((await timeline(quick)).map((e) => e.type)).toEqual([
      'queued',
      'started',
      'succeeded',
    ]);

    const slow = await newJob();
    const announced = event(slow, 'started');
    await events.record([announced]);
    await events.record([
      { ...event(slow, 'succeeded'), startedAt: announced.at },
    ]);
    expect(await jobs.findById(slow)).toMatchObject({
      status: 'succeeded',
      deliveries: 1,
      startedAt: announced.at,
    });
    expect((await timeline(slow)).map((e) => e.type)).toEqual([
      'queued',
      'started',
      'succeeded',
    ]);
  });

  it('records a batch of new events of existing jobs in one statement, one round trip', async () => {
    const [a, b] = [await newJob(), await newJob()];
    const statements: string[] = [];
    const counting = new Pool({ connectionString: database.url, max: 2 });
    // Every statement reaches the server through a client, whether the pool or
    // the repository runs it.
    counting.on('connect', (client) => {
      const query = client.query.bind(client) as (
        ...args: unknown[]
      ) => Promise<unknown>;
      (client as unknown as { query: unknown }).query = (
        text: string,
        ...rest: unknown[]
      ) => (statements.push(text), query(text, ...rest));
    });
    try {
      const startedAt = event(a, 'started').at;
      const outcome = await new JobEventsRepository(counting).record([
        { ...event(a, 'succeeded'), startedAt },
        event(b, 'started'),
        event(b, 'failed'),
      ]);
      expect(outcome).toEqual({
        recorded: 4,
        duplicates: 0,
        orphans: [],
        finished: { succeeded: 1, failed: 1 },
      });
      expect(statements).toHaveLength(1);
    } finally {
      await counting.end();
    }
    expect(await jobs.findById(a)).toMatchObject({
      status: 'succeeded',
      deliveries: 1,
      outputs: [{ name: 'default', sizeBytes: 300 }],
    });
    expect(await jobs.findById(b)).toMatchObject({
      status: 'failed',
      deliveries: 1,
      error: { code: 'INVALID_IMAGE' },
    });
    expect((await timeline(a)).map((e) => e.type)).toEqual([
      'queued',
      'started',
      'succeeded',
    ]);
  });

  it('a batch mixing new events with a repeat and an orphan records the new ones and folds only those', async () => {
    const [repeated, fresh] = [await newJob(), await newJob()];
    const ghost = randomUUID();
    const started = event(repeated, 'started');
    await events.record([started]);
    const outcome = await events.record([
      started,
      event(repeated, 'succeeded'),
      event(fresh, 'started'),
      event(ghost, 'started'),
    ]);
    expect(outcome).toEqual({
      recorded: 2,
      duplicates: 1,
      orphans: [jobEventId(ghost, 1, 'started', 1)],
      finished: { succeeded: 1, failed: 0 },
    });
    // The repeated start is not counted again; the outcome after it is.
    expect(await jobs.findById(repeated)).toMatchObject({
      status: 'succeeded',
      deliveries: 1,
    });
    expect(await jobs.findById(fresh)).toMatchObject({
      status: 'processing',
      deliveries: 1,
    });
    expect((await timeline(repeated)).map((e) => e.type)).toEqual([
      'queued',
      'started',
      'succeeded',
    ]);
    expect(await timeline(ghost)).toEqual([]);
  });

  it('an outcome that arrives while the run it belongs to is still being committed (a retry publishes before it commits) is applied once that commit lands', async () => {
    const id = await newJob();
    await events.record([event(id, 'started'), event(id, 'failed')]);
    // What a retry does: lock the row, start attempt 2, publish its message,
    // and only then commit.
    const retry = await pool.connect();
    await retry.query('BEGIN');
    await retry.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [id]);
    await retry.query(
      `UPDATE jobs SET status = 'queued', attempt = 2, attempt_seq = 2, error_code = NULL, error_message = NULL WHERE id = $1`,
      [id],
    );
    // A quick worker runs attempt 2 and its outcome reaches the writer before
    // that commit.
    const startedAt = event(id, 'started').at;
    const second = {
      ...event(id, 'failed'),
      eventId: jobEventId(id, 2, 'failed', 1),
      attempt: 2,
      startedAt,
    };
    const recording = events.record([second]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await retry.query('COMMIT');
    retry.release();
    await recording;
    expect(await jobs.findById(id)).toMatchObject({
      status: 'failed',
      attempt: 2,
      error: { code: 'INVALID_IMAGE' },
    });
  });

  it('events for unknown jobs are reported as orphans and stored nowhere', async () => {
    const ghost = randomUUID();
    const outcome = await events.record([event(ghost, 'started')]);
    expect(outcome.orphans).toEqual([jobEventId(ghost, 1, 'started', 1)]);
    expect(await timeline(ghost)).toEqual([]);
  });

  it('lists jobs newest first, filtered by status', async () => {
    const a = await newJob();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const b = await newJob();
    await events.record([event(b, 'started')]);
    const { jobs: queued } = await jobs.list({ status: 'queued', limit: 500 });
    expect(queued.map((j) => j.id)).toContain(a);
    expect(queued.map((j) => j.id)).not.toContain(b);
    const { jobs: recent } = await jobs.list({ limit: 2 });
    expect(recent.map((j) => j.id)).toEqual([b, a]);
  });

  it('deleting a job that was never accepted removes its timeline too', async () => {
    const id = await newJob();
    await jobs.delete(id);
    expect(await jobs.findById(id)).toBeNull();
    expect(await timeline(id)).toEqual([]);
  });
});
