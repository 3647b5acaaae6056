import {
  DEFAULT_OUTPUT_NAME,
  ImageJobMessage,
  JobView,
} from '@pipeline/contracts';
import { StorageKeys } from '@pipeline/storage';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import sharp from 'sharp';
import { AMQP_PORT, waitFor } from '../support/resources';
import { TcpProxy } from '../support/tcp-proxy';
import {
  peekQueue,
  publishJobMessages,
  readyMessagesOf,
  unackedOnConnection,
  undrainedQueues,
} from './broker-state';
import { ExitStatus, Pipeline } from './harness';
import { JobLoad } from './load';
import { runScenario } from './scenario';
import {
  startBroker,
  startDatabaseServer,
  stopBroker,
  stopDatabaseServer,
} from './services';
import { summaryLine, sumTallies, Tally } from './tally';
import { adminFetch } from '../support/api-keys';

/**
 * The built pipeline, as separate processes under a steady load of jobs,
 * against the faults it promises to survive: processes killed or stopped
 * mid-work, the broker and the database going away and coming back, a network
 * that cuts or swallows traffic, a job delivered twice, poison messages, jobs
 * cancelled while workers have them. Each scenario counts what became of every
 * accepted job: none may be lost, none may finish twice, and no queue may be
 * left holding anything.
 */
describe('fault injection', () => {
  const SCENARIO_TIMEOUT_MS = 360_000;
  const OUTAGE_MS = 5000;
  const tallies: Tally[] = [];

  it(
    'kill -9 of a worker holding unacked jobs: they are redelivered and finish once',
    () =>
      runScenario(
        {
          name: 'worker-kill',
          pipeline: { workerEnv: { WORKER_PREFETCH: '4' } },
          load: { ratePerSecond: 8, heavy: true },
          loadMs: 10_000,
          fault: async ({ pipeline, pool }) => {
            let held = 0;
            let exit: ExitStatus | undefined;
            try {
              held = await workerHoldingJobs(pipeline, 'worker-1');
              exit = await pipeline.kill('worker-1', 'SIGKILL');
              await sleep(3000);
            } finally {
              await restartIfDown(pipeline, 'worker-1');
            }
            return async () => {
              expect({ held: held > 0, exit }).toEqual({
                held: true,
                exit: { code: null, signal: 'SIGKILL' },
              });
              // The jobs it held were delivered again (and the tally shows each
              // finished once).
              expect(await redeliveredJobs(pool)).toBeGreaterThan(0);
            };
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'kill -9 of the results writer while events flow: they are recorded once after its restart',
    () =>
      runScenario(
        {
          name: 'writer-kill',
          load: { ratePerSecond: 20 },
          fault: async ({ pipeline, pool }) => {
            let exit: ExitStatus | undefined;
            try {
              await eventsFlowing(pipeline, pool);
              exit = await pipeline.kill('writer', 'SIGKILL');
              await sleep(3000);
            } finally {
              await restartIfDown(pipeline, 'writer');
            }
            return () =>
              expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'RabbitMQ stopped and started under load: 503 meanwhile, never a 202, and everything accepted finishes',
    () =>
      runScenario(
        {
          name: 'broker-restart',
          // A backlog, so that the broker goes away with jobs in the workers'
          // hands.
          load: { ratePerSecond: 8, heavy: true },
          fault: async ({ load }) => {
            const outage = await during(OUTAGE_MS, stopBroker, startBroker);
            return () => expectRefusedThroughout(load, outage);
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'PostgreSQL stopped (immediate) and started under load: 503 meanwhile, events held, nothing dead-lettered',
    () =>
      runScenario(
        {
          name: 'database-restart',
          // A backlog, so that workers keep finishing jobs, and the writer
          // keeps receiving their events, during the outage.
          load: { ratePerSecond: 8, heavy: true },
          fault: async ({ load, pool }) => {
            const outage = await during(
              OUTAGE_MS,
              stopDatabaseServer,
              startDatabaseServer,
            );
            // The events dead-letter queue is checked empty with every other
            // queue.
            return async () => {
              expectRefusedThroughout(load, outage);
              expect(await outcomesBetween(pool, outage)).toBeGreaterThan(0);
            };
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'the network to RabbitMQ cut, then silent for a while: every app notices, reconnects and carries on',
    async () => {
      const proxy = new TcpProxy('127.0.0.1', AMQP_PORT);
      await proxy.start();
      try {
        await runScenario(
          {
            name: 'network-faults',
            // A short heartbeat, so that a connection that silently stopped
            // passing anything is noticed.
            pipeline: {
              env: {
                AMQP_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
                AMQP_HEARTBEAT_S: '2',
              },
            },
            load: { ratePerSecond: 12 },
            fault: async ({ load }) => {
              let silence = { from: 0, to: 0 };
              try {
                proxy.reset();
                await sleep(4000);
                proxy.blackhole();
                silence = { from: Date.now(), to: 0 };
                await sleep(6000);
                silence.to = Date.now();
              } finally {
                proxy.heal();
              }
              // No confirm can cross a silent network: whatever was answered
              // meanwhile was refused.
              return () => expectRefusedThroughout(load, silence);
            },
          },
          tallies,
        );
      } finally {
        proxy.heal();
        await proxy.stop();
      }
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'SIGTERM to a worker mid-job: it finishes what it processes, hands back what it holds, exits 0, and nothing is lost',
    () =>
      runScenario(
        {
          name: 'worker-sigterm',
          pipeline: { workerEnv: { WORKER_PREFETCH: '4' } },
          load: { ratePerSecond: 8, heavy: true },
          loadMs: 10_000,
          fault: async ({ pipeline }) => {
            let held = 0;
            let exit: ExitStatus | undefined;
            try {
              held = await workerHoldingJobs(pipeline, 'worker-1');
              exit = await pipeline.kill('worker-1', 'SIGTERM');
            } finally {
              await restartIfDown(pipeline, 'worker-1');
            }
            // Exit 0: to a supervisor, dying of the signal (status 143) reads
            // as a crash, not a clean stop.
            return () =>
              expect({ held: held > 0, exit }).toEqual({
                held: true,
                exit: { code: 0, signal: null },
              });
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'the same job delivered twice, at once and after it finished: one outcome, outputs intact',
    async () => {
      const copied: string[] = [];
      await runScenario(
        {
          name: 'duplicate-delivery',
          load: { ratePerSecond: 12 },
          fault: async ({ pipeline, load, pool }) => {
            // Copies of the first jobs accepted, published right away: both
            // deliveries are in the queue together.
            const publishing: Array<Promise<void>> = [];
            load.onAccepted((id) => {
              if (copied.length >= 10) return;
              copied.push(id);
              publishing.push(publishCopyOf(pool, pipeline.prefix, id));
            });
            await waitFor(
              () => (copied.length >= 10 ? true : undefined),
              20_000,
              'ten accepted jobs to copy',
            );
            await Promise.all(publishing);
            return () => expectOutputsIntact(pipeline, pool, copied);
          },
          // And copies of finished jobs: a duplicate that arrives late.
          afterFinished: async ({ pipeline, load, pool }) => {
            const finished = load.accepted
              .filter((id) => !copied.includes(id))
              .slice(0, 5);
            for (const id of finished)
              await publishCopyOf(pool, pipeline.prefix, id);
            copied.push(...finished);
            await waitForEmptyQueues(pipeline.prefix);
          },
        },
        tallies,
      );
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'poison messages (not JSON, wrong shape) are parked in the jobs dead-letter queue and block nothing',
    () =>
      runScenario(
        {
          name: 'poison-messages',
          load: { ratePerSecond: 12 },
          fault: async ({ pipeline }) => {
            await publishJobMessages(pipeline.prefix, [
              { messageId: 'poison-not-json', body: '{"jobId": "3f1c…' },
              {
                messageId: 'poison-wrong-shape',
                body: JSON.stringify({
                  hello: 'world',
                  operations: 'all of them',
                }),
              },
            ]);
            return () => expectParkedPoison(pipeline);
          },
          parked: (prefix) => ({ [`${prefix}.jobs.dead`]: 2 }),
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'jobs cancelled under load: each ends cancelled once and without output, although a worker still processes its message; the rest succeed',
    () => {
      const cancelled: string[] = [];
      return runScenario(
        {
          name: 'cancellations',
          // A backlog, so that jobs are cancelled before a worker is done with
          // them.
          load: { ratePerSecond: 10, heavy: true },
          fault: async ({ pipeline, load, pool }) => {
            const tried = new Set<string>();
            for (
              const until = Date.now() + 6000;
              Date.now() < until;
              await sleep(200)
            ) {
              // Every third job accepted so far, as soon as it is seen.
              for (const id of load.accepted.filter(
                (_, index) =>
                  index % 3 === 0 && !tried.has(load.accepted[index]),
              )) {
                tried.add(id);
                const answer = await adminFetch(
                  `${pipeline.baseUrl}/v1/jobs/${id}/cancel`,
                  { method: 'POST' },
                );
                if (answer.status === 200) cancelled.push(id);
                // 409: it finished first.
                else if (answer.status !== 409)
                  throw new Error(
                    `cancelling ${id}: ${answer.status} ${await answer.text()}`,
                  );
              }
            }
            return async () => {
              expect(cancelled.length).toBeGreaterThan(0);
              const { rows } = await pool.query<{ outputs: number }>(
                'SELECT count(*)::int AS outputs FROM job_outputs WHERE job_id = ANY($1::uuid[])',
                [cancelled],
              );
              expect(rows[0].outputs).toBe(0);
              // Their messages were not taken out of the queue: a worker
              // processed each, and the writer dropped its outcome.
              const processed = cancelled.filter((id) =>
                existsSync(
                  join(
                    pipeline.storageDir,
                    StorageKeys.output(id, 1, DEFAULT_OUTPUT_NAME),
                  ),
                ),
              );
              expect(processed).toEqual(cancelled);
            };
          },
          cancelled: () => cancelled,
        },
        tallies,
      );
    },
    SCENARIO_TIMEOUT_MS,
  );

  it('adds up: no accepted job lost or duplicated in any scenario', () => {
    const total = sumTallies(tallies);
    process.stdout.write(`${summaryLine(total)}\n`);
    expect({ lost: total.lost, duplicated: total.duplicated }).toEqual({
      lost: 0,
      duplicated: 0,
    });
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function restartIfDown(pipeline: Pipeline, name: string): Promise<void> {
  if (!pipeline.isRunning(name)) await pipeline.restart(name);
}

/**
 * Waits until the worker holds unacknowledged jobs while others wait in the
 * queue: then its prefetch is full, and whatever happens to it next happens to
 * jobs in its hands.
 */
async function workerHoldingJobs(
  pipeline: Pipeline,
  worker: string,
): Promise<number> {
  return waitFor(
    async () => {
      if ((await readyMessagesOf(`${pipeline.prefix}.jobs`)) === 0)
        return undefined;
      const held = await unackedOnConnection(
        `${pipeline.prefix} image-worker ${worker}`,
      );
      return held > 0 ? held : undefined;
    },
    30_000,
    `${worker} to hold jobs with more waiting`,
  );
}

/**
 * Jobs with a start on a second (or later) delivery: their first delivery died
 * with its worker.
 */
async function redeliveredJobs(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ jobs: number }>(
    `SELECT count(DISTINCT job_id)::int AS jobs FROM job_events WHERE type = 'started' AND delivery > 1`,
  );
  return rows[0].jobs;
}

/**
 * Waits until events flow to the writer, and preferably until it holds some
 * unacked (a batch on its way to the database, or committed and about to be
 * acked: where a crash hurts most). The moment is brief and the broker is asked
 * only a few times a second, so after a while any moment with events flowing
 * has to do.
 */
async function eventsFlowing(pipeline: Pipeline, pool: Pool): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await pool.query<{ outcomes: number }>(
        `SELECT count(*)::int AS outcomes FROM job_events WHERE type IN ('succeeded', 'failed')`,
      );
      return rows[0].outcomes > 0 ? true : undefined;
    },
    20_000,
    'the writer to record outcomes',
  );
  const deadline = Date.now() + 10_000;
  while (
    Date.now() < deadline &&
    (await unackedOnConnection(`${pipeline.prefix} results-writer`)) === 0
  );
}

/**
 * Takes a dependency away for `ms`, then brings it back (always, even if taking
 * it away failed halfway). Returns the stretch of time it was surely away: from
 * the moment stopping it returned to the moment starting it was asked for.
 */
async function during(
  ms: number,
  stop: () => Promise<void>,
  start: () => Promise<void>,
): Promise<{ from: number; to: number }> {
  try {
    await stop();
    const from = Date.now();
    await sleep(ms);
    return { from, to: Date.now() };
  } finally {
    await start();
  }
}

/**
 * Jobs that finished while the database was away: their events had to wait for
 * it in the writer's hands.
 */
async function outcomesBetween(
  pool: Pool,
  outage: { from: number; to: number },
): Promise<number> {
  const { rows } = await pool.query<{ outcomes: number }>(
    `SELECT count(*)::int AS outcomes FROM job_events WHERE type IN ('succeeded', 'failed') AND at BETWEEN $1 AND $2`,
    [new Date(outage.from), new Date(outage.to)],
  );
  return rows[0].outcomes;
}

/**
 * Requests sent and answered while a dependency was away were refused (503),
 * never accepted.
 */
function expectRefusedThroughout(
  load: JobLoad,
  outage: { from: number; to: number },
): void {
  const answers = load.answeredWithin(outage.from, outage.to);
  expect(answers.filter((answer) => answer.status === 202)).toEqual([]);
  expect(
    answers.filter((answer) => answer.status === 503).length,
  ).toBeGreaterThan(0);
}

/**
 * The job message the producer published for a job, rebuilt from its row,
 * published once more.
 */
async function publishCopyOf(
  pool: Pool,
  prefix: string,
  id: string,
): Promise<void> {
  type JobRow = Pick<ImageJobMessage, 'source' | 'operations'> & {
    output_options: ImageJobMessage['output'];
    variants: ImageJobMessage['variants'] | null;
    created_at: Date;
  };
  const { rows } = await pool.query<JobRow>(
    'SELECT source, operations, output_options, variants, created_at FROM jobs WHERE id = $1',
    [id],
  );
  const [job] = rows;
  const message = {
    jobId: id,
    attempt: 1,
    source: job.source,
    operations: job.operations,
    output: job.output_options,
    ...(job.variants ? { variants: job.variants } : {}),
    submittedAt: job.created_at.toISOString(),
  };
  await publishJobMessages(prefix, [
    { messageId: id, body: JSON.stringify(message) },
  ]);
}

/**
 * Waits until the jobs and events queues are empty: every delivery has been
 * handled and recorded.
 */
async function waitForEmptyQueues(prefix: string): Promise<void> {
  await waitFor(
    async () =>
      Object.keys(await undrainedQueues(prefix)).length === 0
        ? true
        : undefined,
    30_000,
    'the late copies to be handled',
  );
}

/**
 * Each job has one output row, served whole: the bytes decode to what the row
 * says.
 */
async function expectOutputsIntact(
  pipeline: Pipeline,
  pool: Pool,
  ids: string[],
): Promise<void> {
  for (const id of ids) {
    const { rows } = await pool.query<{
      name: string;
      format: string;
      width: number;
      height: number;
      size: number;
    }>(
      'SELECT name, format, width, height, size_bytes::int AS size FROM job_outputs WHERE job_id = $1',
      [id],
    );
    expect(rows).toHaveLength(1);
    const [row] = rows;
    const job = (await (
      await adminFetch(`${pipeline.baseUrl}/v1/jobs/${id}`)
    ).json()) as JobView;
    expect(job).toMatchObject({
      status: 'succeeded',
      output: {
        format: row.format,
        width: row.width,
        height: row.height,
        sizeBytes: row.size,
      },
    });
    const bytes = Buffer.from(
      await (
        await adminFetch(`${pipeline.baseUrl}/v1/jobs/${id}/result`)
      ).arrayBuffer(),
    );
    const decoded = await sharp(bytes).metadata();
    expect({
      size: bytes.length,
      format: decoded.format,
      width: decoded.width,
      height: decoded.height,
    }).toEqual({
      size: row.size,
      format: row.format,
      width: row.width,
      height: row.height,
    });
  }
}

/**
 * The two poison messages sit in the jobs dead-letter queue, rejected by a
 * worker that said why.
 */
async function expectParkedPoison(pipeline: Pipeline): Promise<void> {
  const parked = await peekQueue(`${pipeline.prefix}.jobs.dead`);
  expect(
    parked.map((message): unknown => message.properties.messageId).sort(),
  ).toEqual(['poison-not-json', 'poison-wrong-shape']);
  for (const message of parked) {
    expect(message.properties.headers?.['x-death']?.[0]).toMatchObject({
      reason: 'rejected',
      queue: `${pipeline.prefix}.jobs`,
    });
  }
  const workers = pipeline.names
    .filter((name) => name.startsWith('worker-'))
    .map((name) => pipeline.output(name))
    .join('\n');
  expect(workers).toMatch(/poison-not-json[^\n]*JSON/);
  expect(workers).toMatch(/poison-wrong-shape[^\n]*message\.jobId/);
}
