import { BOOTSTRAP_ADMIN_KEY_ID } from '@pipeline/database';
import { Client } from 'pg';

/** The keys the filled jobs belong to: the bootstrap admin and four more. */
export const BENCH_KEYS = [
  BOOTSTRAP_ADMIN_KEY_ID,
  '00000000-0000-4000-8000-00000000b001',
  '00000000-0000-4000-8000-00000000b002',
  '00000000-0000-4000-8000-00000000b003',
  '00000000-0000-4000-8000-00000000b004',
];

/** Error codes of the failed jobs, in turn. */
export const BENCH_ERROR_CODES = [
  'INVALID_IMAGE',
  'UNSUPPORTED_FORMAT',
  'PROCESSING_TIMEOUT',
  'IMAGE_TOO_LARGE',
];

const KEYS = `
INSERT INTO api_keys (id, name, scopes)
  SELECT id, 'bench ' || n, ARRAY['jobs:read', 'jobs:write'] FROM unnest($1::uuid[]) WITH ORDINALITY AS k(id, n)`;

// Over the last 30 days: 1 in 10 failed, 1 in 50 queued, 1 in 50 processing
// (1 in 10 of these flagged stuck), the rest succeeded with one output.
const JOBS = `
CREATE TEMP TABLE bench_jobs AS
  SELECT n, gen_random_uuid() AS id,
    now() - (n * interval '30 days' / $1::int) AS created_at,
    CASE WHEN n % 10 = 3 THEN 'failed' WHEN n % 50 = 7 THEN 'queued' WHEN n % 50 = 9 THEN 'processing' ELSE 'succeeded' END AS status
  FROM generate_series(1, $1::int) AS n`;

const JOB_ROWS = `
INSERT INTO jobs (id, status, attempt, deliveries, source, operations, output_options, created_at, updated_at, started_at, finished_at,
                  api_key_id, error_code, error_message, worker_id, stuck_reason, published_at)
  SELECT id, status, 1, CASE WHEN status = 'queued' THEN 0 ELSE 1 END,
    jsonb_build_object('kind', 'images', 'path', 'photo-' || (n % 500) || '.jpg'),
    '[{"op":"resize","width":320},{"op":"grayscale"}]', '{"format":"webp"}', created_at, created_at,
    CASE WHEN status <> 'queued' THEN created_at + interval '40 ms' END,
    CASE WHEN status IN ('succeeded', 'failed') THEN created_at + interval '300 ms' END,
    ($1::uuid[])[1 + n % 5],
    CASE WHEN status = 'failed' THEN ($2::text[])[1 + (n / 10) % 4] END,
    CASE WHEN status = 'failed' THEN 'bench failure' END,
    CASE WHEN status <> 'queued' THEN 'worker-' || (n % 8) END,
    CASE WHEN status = 'processing' AND n % 500 = 9 THEN 'its worker is gone' END,
    created_at
  FROM bench_jobs`;

const OUTPUTS = `
INSERT INTO job_outputs (job_id, name, position, format, width, height, size_bytes, storage_key, created_at)
  SELECT id, 'default', 0, 'webp', 320, 213, 18000 + n % 5000, 'outputs/' || id || '.1/default', created_at + interval '300 ms'
  FROM bench_jobs WHERE status = 'succeeded'`;

// Each job's queued event, the started ones' start, the finished ones'
// outcome.
const EVENTS = `
INSERT INTO job_events (event_id, job_id, type, attempt, delivery, worker_id, at, detail, recorded_at)
  SELECT id || ':queued', id, 'queued', 1, NULL::int, NULL::text, created_at, NULL::jsonb, created_at FROM bench_jobs
  UNION ALL
  SELECT id || ':1:started:1', id, 'started', 1, 1, 'worker-' || (n % 8), created_at + interval '40 ms', NULL::jsonb, created_at + interval '41 ms'
    FROM bench_jobs WHERE status <> 'queued'
  UNION ALL
  SELECT id || ':1:' || status || ':1', id, status, 1, 1, 'worker-' || (n % 8), created_at + interval '300 ms',
    CASE WHEN status = 'failed' THEN jsonb_build_object('code', ($1::text[])[1 + (n / 10) % 4], 'message', 'bench failure') END,
    created_at + interval '301 ms'
    FROM bench_jobs WHERE status IN ('succeeded', 'failed')`;

/**
 * Fills a migrated, empty database with `count` jobs (and their outputs and
 * events) in a few statements; then ANALYZE, as autovacuum would soon.
 */
export async function fillJobs(url: string, count: number): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    const statements: Array<[string, unknown[]]> = [
      [KEYS, [BENCH_KEYS.slice(1)]],
      [JOBS, [count]],
      [JOB_ROWS, [BENCH_KEYS, BENCH_ERROR_CODES]],
      [OUTPUTS, []],
      [EVENTS, [BENCH_ERROR_CODES]],
    ];
    for (const [sql, params] of statements) await client.query(sql, params);
    await client.query('COMMIT');
    await client.query('ANALYZE jobs, job_outputs, job_events');
  } finally {
    await client.end();
  }
}
