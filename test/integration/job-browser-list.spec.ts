import {
  BOOTSTRAP_ADMIN_KEY_ID,
  JobPosition,
  JobsRepository,
} from '@pipeline/database';
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { createTestDatabase } from '../support/resources';

/**
 * The job browser's listing against the real database: each filter, and pages
 * that follow one another by their cursor position without a gap or a repeat,
 * even among jobs created in the same microsecond, and while new jobs arrive.
 */
describe('job listing: filters and keyset pages (real PostgreSQL)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: Pool;
  let jobs: JobsRepository;
  const OTHER_KEY = randomUUID();
  const BASE = Date.parse('2026-03-01T00:00:00Z');
  /** Every job inserted, by id. */
  const all: Array<{
    id: string;
    createdAt: string;
    status: string;
    key: string;
    code: string | null;
    stuck: boolean;
  }> = [];

  async function insert(job: {
    minute: number;
    micros?: number;
    status?: string;
    key?: string;
    code?: string;
    stuckReason?: string;
    id?: string;
  }): Promise<string> {
    const id = job.id ?? randomUUID();
    const createdAt =
      new Date(BASE + job.minute * 60_000).toISOString().replace('Z', '') +
      String(job.micros ?? 0).padStart(3, '0') +
      'Z';
    const status = job.status ?? 'succeeded';
    const key = job.key ?? BOOTSTRAP_ADMIN_KEY_ID;
    await pool.query(
      `INSERT INTO jobs (id, status, source, operations, created_at, updated_at, api_key_id, error_code, error_message, stuck_reason)
       VALUES ($1, $2, '{"kind":"images","path":"a.jpg"}', '[]', $3, $3, $4, $5::text, CASE WHEN $5::text IS NULL THEN NULL ELSE 'bad' END, $6)`,
      [id, status, createdAt, key, job.code ?? null, job.stuckReason ?? null],
    );
    all.push({
      id,
      createdAt,
      status,
      key,
      code: job.code ?? null,
      stuck: job.stuckReason !== undefined,
    });
    return id;
  }

  /** Every page of a listing, following the cursor positions. */
  async function walk(
    query: Omit<Parameters<JobsRepository['list']>[0], 'after'>,
  ) {
    const pages: string[][] = [];
    let after: JobPosition | undefined;
    do {
      const page = await jobs.list({ ...query, after });
      pages.push(page.jobs.map((job) => job.id));
      after = page.next;
    } while (after && pages.length < 100);
    return pages;
  }

  /** The ids of `all` that pass `keep`, newest first, as listed. */
  const expected = (keep: (job: (typeof all)[number]) => boolean) =>
    all
      .filter(keep)
      .sort((a, b) =>
        a.createdAt === b.createdAt
          ? b.id.localeCompare(a.id)
          : b.createdAt.localeCompare(a.createdAt),
      )
      .map((job) => job.id);

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new Pool({ connectionString: database.url, max: 4 });
    jobs = new JobsRepository(pool);
    await pool.query(
      `INSERT INTO api_keys (id, name, scopes) VALUES ($1, 'other', ARRAY['jobs:read'])`,
      [OTHER_KEY],
    );
    for (let minute = 0; minute < 12; minute++)
      await insert({
        minute,
        status: minute % 3 === 0 ? 'failed' : 'succeeded',
        code:
          minute % 3 === 0
            ? minute % 2 === 0
              ? 'INVALID_IMAGE'
              : 'PROCESSING_TIMEOUT'
            : undefined,
        key: minute % 4 === 1 ? OTHER_KEY : undefined,
      });
    // Five jobs in one microsecond: only the id tells them apart.
    for (let i = 0; i < 5; i++)
      await insert({ minute: 20, micros: 7, status: 'queued' });
    await insert({
      minute: 21,
      status: 'processing',
      stuckReason: 'its worker is gone',
    });
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  it('pages through every job newest first, by creation time then id, with no gap or repeat, even within a microsecond', async () => {
    const pages = await walk({ limit: 4 });
    expect(pages.map((page) => page.length)).toEqual([4, 4, 4, 4, 2]);
    expect(pages.flat()).toEqual(expected(() => true));
    // The position keeps the microseconds a JS Date would lose.
    const first = await jobs.list({ limit: 2 });
    expect(first.next?.createdAt).toBe('2026-03-01T00:20:00.000007Z');
  });

  it('keeps its place while newer jobs arrive', async () => {
    const first = await jobs.list({ limit: 3 });
    const newer = await insert({ minute: 30 });
    const second = await jobs.list({ limit: 3, after: first.next });
    expect([...first.jobs, ...second.jobs].map((job) => job.id)).toEqual(
      expected((job) => job.id !== newer).slice(0, 6),
    );
  });

  it('filters by status, error code, key, creation time, stuck-ness and id prefix, each paged alike', async () => {
    expect((await walk({ limit: 2, status: 'failed' })).flat()).toEqual(
      expected((job) => job.status === 'failed'),
    );
    expect(
      (await walk({ limit: 1, errorCode: 'INVALID_IMAGE' })).flat(),
    ).toEqual(expected((job) => job.code === 'INVALID_IMAGE'));
    expect((await walk({ limit: 2, apiKeyId: OTHER_KEY })).flat()).toEqual(
      expected((job) => job.key === OTHER_KEY),
    );
    const from = new Date(BASE + 3 * 60_000);
    const to = new Date(BASE + 8 * 60_000);
    expect(
      (await walk({ limit: 2, createdFrom: from, createdTo: to })).flat(),
    ).toEqual(
      expected(
        (job) =>
          Date.parse(job.createdAt) >= from.getTime() &&
          Date.parse(job.createdAt) < to.getTime(),
      ),
    );
    expect(
      (await walk({ limit: 5, stuckBefore: new Date(BASE) })).flat(),
    ).toEqual(expected((job) => job.stuck));
    const target = all[4].id;
    const prefix = target.slice(0, 8);
    expect(
      (
        await walk({
          limit: 5,
          idRange: {
            first: `${prefix}-0000-0000-0000-000000000000`,
            last: `${prefix}-ffff-ffff-ffff-ffffffffffff`,
          },
        })
      ).flat(),
    ).toEqual(expected((job) => job.id.startsWith(prefix)));
    expect(
      (
        await jobs.list({
          limit: 5,
          status: 'failed',
          errorCode: 'PROCESSING_TIMEOUT',
          apiKeyId: OTHER_KEY,
        })
      ).jobs.map((job) => job.id),
    ).toEqual(
      expected(
        (job) => job.code === 'PROCESSING_TIMEOUT' && job.key === OTHER_KEY,
      ),
    );
  });

  it('reads a page by an index, never by sorting the whole table', async () => {
    const plan = async (sql: string, params: unknown[]) =>
      (
        await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)
      ).rows
        .map((row) => row['QUERY PLAN'])
        .join('\n');
    // Whatever the table's size, no plan may need to sort: an index gives
    // each filter's rows in page order.
    await pool.query(
      'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off',
    );
    try {
      for (const [where, params, index] of [
        ['', [], 'jobs_created_at_id_idx'],
        ['WHERE status = $2', ['failed'], 'jobs_status_created_at_id_idx'],
        [
          'WHERE error_code = $2',
          ['INVALID_IMAGE'],
          'jobs_error_code_created_at_id_idx',
        ],
        [
          'WHERE api_key_id = $2',
          [OTHER_KEY],
          'jobs_api_key_created_at_id_idx',
        ],
      ] as const) {
        const text = await plan(
          `SELECT id FROM jobs ${where} ${where ? 'AND' : 'WHERE'} (created_at, id) < ($1::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid) ORDER BY created_at DESC, id DESC LIMIT 50`,
          ['2026-03-01T00:10:00Z', ...params],
        );
        expect(text).toContain(index);
        expect(text).not.toMatch(/Sort/);
      }
    } finally {
      await pool.query('RESET ALL');
    }
  });
});
