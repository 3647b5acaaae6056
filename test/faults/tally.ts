import { Pool } from 'pg';

/** How a scenario's accepted jobs ended. */
export interface Tally {
  accepted: number;
  succeeded: number;
  failed: number;
  /**
   * Accepted, yet not succeeded or failed (or no row at all) when the wait was
   * over.
   */
  lost: number;
  /**
   * Accepted jobs with two outcome events for one attempt, two successes, or an
   * output recorded twice.
   */
  duplicated: number;
  lostIds: string[];
  duplicatedIds: string[];
  failures: Array<{ id: string; code: string | null; message: string | null }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A pool for looking at a test database; it outlives a PostgreSQL restart
 * (queries fail meanwhile, the pool does not).
 */
export function inspectionPool(databaseUrl: string): Pool {
  const pool = new Pool({ connectionString: databaseUrl, max: 2 });
  // An idle client whose server went away reports it here; without a listener
  // the test process would die.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Waits until every id has a finished row; returns how many have not. Gives up
 * once no job has finished for `stallMs`: a pipeline that is slow (a busy
 * machine) but still finishing jobs is waited for, one that stopped is not.
 * Never throws for a slow pipeline.
 */
export async function waitUntilFinished(
  pool: Pool,
  ids: string[],
  stallMs: number,
): Promise<number> {
  let unfinished = ids.length;
  let progressAt = Date.now();
  for (;;) {
    try {
      const { rows } = await pool.query<{ finished: number }>(
        `SELECT count(*)::int AS finished FROM jobs WHERE id = ANY($1::uuid[]) AND status IN ('succeeded', 'failed')`,
        [ids],
      );
      const now = ids.length - rows[0].finished;
      if (now < unfinished) progressAt = Date.now();
      unfinished = now;
    } catch {
      // The database may be coming back from an outage; ask again.
    }
    if (unfinished === 0 || Date.now() - progressAt > stallMs) {
      return unfinished;
    }
    await sleep(500);
  }
}

export async function tallyJobs(pool: Pool, ids: string[]): Promise<Tally> {
  const { rows } = await pool.query<{
    id: string;
    status: string | null;
    error_code: string | null;
    error_message: string | null;
    outcomes: number;
    output_copies: number;
  }>(
    `SELECT a.id, j.status, j.error_code, j.error_message,
            -- An operator's retry starts a new attempt, which has an outcome of its own; a job succeeds once.
            GREATEST((SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM job_events e WHERE e.job_id = a.id AND e.type IN ('succeeded', 'failed') GROUP BY e.attempt) per_attempt),
                     (SELECT count(*) FROM job_events e WHERE e.job_id = a.id AND e.type = 'succeeded'))::int AS outcomes,
            (SELECT coalesce(max(copies), 0) FROM (SELECT count(*) AS copies FROM job_outputs o WHERE o.job_id = a.id GROUP BY o.name) per_name)::int AS output_copies
     FROM unnest($1::uuid[]) AS a(id) LEFT JOIN jobs j ON j.id = a.id`,
    [ids],
  );
  const lost = rows.filter(
    (row) => row.status !== 'succeeded' && row.status !== 'failed',
  );
  const duplicated = rows.filter(
    (row) => row.outcomes > 1 || row.output_copies > 1,
  );
  const failed = rows.filter((row) => row.status === 'failed');
  return {
    accepted: ids.length,
    succeeded: rows.filter((row) => row.status === 'succeeded').length,
    failed: failed.length,
    lost: lost.length,
    duplicated: duplicated.length,
    lostIds: lost.map((row) => `${row.id} (${row.status ?? 'no row'})`),
    duplicatedIds: duplicated.map(
      (row) =>
        `${row.id} (${row.outcomes} outcomes of one attempt or successes, outputs up to ${row.output_copies} times)`,
    ),
    failures: failed.map((row) => ({
      id: row.id,
      code: row.error_code,
      message: row.error_message,
    })),
  };
}

export function sumTallies(tallies: Tally[]): Tally {
  const sum = (pick: (tally: Tally) => number) =>
    tallies.reduce((total, tally) => total + pick(tally), 0);
  return {
    accepted: sum((t) => t.accepted),
    succeeded: sum((t) => t.succeeded),
    failed: sum((t) => t.failed),
    lost: sum((t) => t.lost),
    duplicated: sum((t) => t.duplicated),
    lostIds: tallies.flatMap((t) => t.lostIds),
    duplicatedIds: tallies.flatMap((t) => t.duplicatedIds),
    failures: tallies.flatMap((t) => t.failures),
  };
}

/**
 * The summary line: `faults: [scenario=<name> ]` and then
 * `accepted=N succeeded=N failed=N lost=N duplicated=N`.
 */
export function summaryLine(
  tally: Tally,
  scenario?: string,
  {
    suite = 'faults',
    fields = {},
  }: { suite?: string; fields?: Record<string, number | string> } = {},
): string {
  const name = scenario ? `scenario=${scenario} ` : '';
  const extra = Object.entries(fields)
    .map(([field, value]) => `${field}=${value} `)
    .join('');
  return `${suite}: ${name}${extra}accepted=${tally.accepted} succeeded=${tally.succeeded} failed=${tally.failed} lost=${tally.lost} duplicated=${tally.duplicated}`;
}
