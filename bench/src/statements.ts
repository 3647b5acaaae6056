import { jobEventId } from '@pipeline/contracts';
import {
  BOOTSTRAP_ADMIN_KEY_ID,
  JobEventsRepository,
  JobsRepository,
  migrate,
} from '@pipeline/database';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Pool, QueryConfig } from 'pg';
import { positiveInteger } from './options';
import { cpuTimeMs } from './process-cpu';
import { onBenchSite } from './producer-process';
import { WORKLOADS } from './workloads';

/**
 * `npm run bench:statements -- [--jobs 2000] [--rounds 3] [--in-flight 4]`
 *
 * What PostgreSQL spends on each job's statements: a submission (the job's
 * row and first event, then its published mark) and the recording of its
 * outcome, run as the producer and the results writer run them, `--in-flight`
 * jobs at once, over one connection, whose backend's CPU is read from /proc.
 * Each round measures the statements as shipped (prepared once per connection)
 * and again parsed and planned on every call, in turn, on a database of its
 * own; the CPU per job and jobs/s of each.
 */

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '4' },
  },
});
const JOBS = positiveInteger('jobs', args.jobs);
const IN_FLIGHT = positiveInteger('in-flight', args['in-flight']);
const ROUNDS = positiveInteger('rounds', args.rounds);

/**
 * A pool whose named statements run unnamed: parsed and planned on every call,
 * as before they were prepared. Every statement reaches the server through a
 * client, whether the pool or a repository holding a client runs it.
 */
function unprepared(pool: Pool): Pool {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: unknown }).query = (
      config: unknown,
      ...rest: unknown[]
    ) => {
      if (typeof config === 'object' && config !== null && 'name' in config) {
        const { text, values } = config as QueryConfig;
        return query({ text, values }, ...rest);
      }
      return query(config, ...rest);
    };
  });
  return pool;
}

/** One job's statements: submitted, marked published, its outcome recorded. */
async function oneJob(
  jobs: JobsRepository,
  events: JobEventsRepository,
): Promise<void> {
  const id = randomUUID();
  await jobs.insertQueued({
    id,
    apiKeyId: BOOTSTRAP_ADMIN_KEY_ID,
    source: { kind: 'images', path: 'tiny-1.jpg' },
    ...WORKLOADS.tiny,
    createdAt: new Date(),
  });
  await jobs.markPublished(id);
  const startedAt = new Date().toISOString();
  await events.record([
    {
      eventId: jobEventId(id, 1, 'succeeded', 1),
      jobId: id,
      type: 'succeeded',
      attempt: 1,
      delivery: 1,
      workerId: 'bench-worker',
      at: new Date().toISOString(),
      startedAt,
      outputs: [
        {
          name: 'default',
          key: `outputs/${id}/1/default`,
          format: 'jpeg',
          width: 320,
          height: 320,
          sizeBytes: 4000,
        },
      ],
    },
  ]);
}

async function measureArm(
  databaseUrl: string,
  prepared: boolean,
): Promise<{ cpuPerJobMs: number; jobsPerSecond: number }> {
  const connected = new Pool({ connectionString: databaseUrl, max: 1 });
  const pool = prepared ? connected : unprepared(connected);
  try {
    const { rows } = await pool.query<{ pid: number }>(
      'SELECT pg_backend_pid() AS pid',
    );
    const backend = rows[0].pid;
    const jobs = new JobsRepository(pool);
    const events = new JobEventsRepository(pool);
    for (let i = 0; i < 50; i++) await oneJob(jobs, events);
    const cpuBefore = cpuTimeMs(backend)!;
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next++ < JOBS) await oneJob(jobs, events);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return {
      cpuPerJobMs: (cpuTimeMs(backend)! - cpuBefore) / JOBS,
      jobsPerSecond: JOBS / seconds,
    };
  } finally {
    await connected.end();
  }
}

async function main(): Promise<void> {
  console.log(
    `${JOBS} jobs a round, ${IN_FLIGHT} at once, over one connection; the backend's CPU per job`,
  );
  for (let round = 1; round <= ROUNDS; round++) {
    const line: string[] = [];
    for (const prepared of [true, false])
      await onBenchSite('statements', async (site) => {
        await migrate({ connectionString: site.databaseUrl });
        const { cpuPerJobMs, jobsPerSecond } = await measureArm(
          site.databaseUrl,
          prepared,
        );
        line.push(
          `${prepared ? 'prepared' : 'parsed each call'} ${cpuPerJobMs.toFixed(3)} ms (${jobsPerSecond.toFixed(0)} jobs/s)`,
        );
      });
    console.log(`round ${round}: ${line.join('; ')}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
