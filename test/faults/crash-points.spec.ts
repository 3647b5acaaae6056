import { JobErrorCode, JobView } from '@pipeline/contracts';
import { FailpointName } from '@pipeline/failpoints';
import { connect } from 'amqplib';
import { Pool } from 'pg';
import sharp from 'sharp';
import { adminFetch } from '../support/api-keys';
import { AMQP_URL, waitFor } from '../support/resources';
import { ExitStatus, Pipeline } from './harness';
import { JobLoad } from './load';
import { expectConsuming, expectDrained, keepLogs, sleep } from './scenario';
import {
  inspectionPool,
  summaryLine,
  Tally,
  tallyJobs,
  waitUntilFinished,
} from './tally';

/**
 * A step of the walk: the failpoint, the process it is armed in, and what makes
 * that process reach it.
 */
interface CrashPoint {
  point: FailpointName;
  in: string;
  /**
   * Sent once the armed process is ready; without it the steady load reaches
   * the point.
   */
  trigger?: (walk: CrashWalk) => Promise<void>;
}

/**
 * A URL the producer takes (port 80) and the workers refuse to fetch
 * (loopback): a job that fails for good, on every attempt, for operators to act
 * on.
 */
const REFUSED_URL = 'http://127.0.0.1/refused.jpg';
const URL_JOB = {
  source: { url: REFUSED_URL },
  operations: [{ op: 'resize', width: 10 }],
};
const SWEEP_INTERVAL_S = 1;
const WORKER_GONE_AFTER_S = 6;
const FIRE_TIMEOUT_MS = 30_000;

const POINTS: CrashPoint[] = [
  { point: 'producer.after-insert', in: 'producer' },
  { point: 'publish.before-confirm', in: 'producer' },
  { point: 'producer.after-confirm', in: 'producer' },
  // A producer dying after an insert leaves a row nobody confirmed: the sweeper
  // publishes it again.
  {
    point: 'sweeper.after-publish',
    in: 'writer',
    trigger: (walk) => walk.leaveUnconfirmedJob(),
  },
  { point: 'worker.after-output-stored', in: 'worker-1' },
  { point: 'publish.before-confirm', in: 'worker-1' },
  { point: 'worker.after-outcome-published', in: 'worker-1' },
  { point: 'writer.after-commit', in: 'writer' },
  {
    point: 'retry.before-publish',
    in: 'producer',
    trigger: (walk) => walk.retryFailedUrlJob(),
  },
  {
    point: 'retry.after-publish',
    in: 'producer',
    trigger: (walk) => walk.retryFailedUrlJob(),
  },
  {
    point: 'replay.after-publish',
    in: 'producer',
    trigger: (walk) => walk.parkAndDrain('replay'),
  },
  {
    point: 'purge.after-record',
    in: 'producer',
    trigger: (walk) => walk.parkAndDrain('purge'),
  },
];

/**
 * Every failpoint on a job's path, one after the other, under a steady stream
 * of jobs and of operator actions running at the same time (cancel,
 * retry-failed, replay, purge): the process holding the point is started with
 * it armed, dies there, and is started again. At the end every accepted job has
 * ended exactly once (or would be listed stuck, with a reason), every recorded
 * output is the bytes served, and every queue is drained.
 */
describe('crash at every step', () => {
  it(
    'walks every failpoint under load and operator races: lost=0 duplicated=0 stuck=0, outputs as recorded',
    () => walkUnderLoad('crash-points', POINTS, { ratePerSecond: 8 }),
    480_000,
  );

  it(
    'operators cancel, retry, replay and purge while workers run the same jobs: each attempt ends once, nothing is stuck',
    // A backlog of slow jobs, so that operators act on attempts that workers
    // hold.
    () =>
      walkUnderLoad('operator-races', [], {
        ratePerSecond: 4,
        heavy: true,
        operateMs: 15_000,
      }),
    480_000,
  );
});

/**
 * One scenario: a fresh pipeline under load and operator races, the crash
 * points walked one by one (or, without any, operators racing for `operateMs`),
 * then the reckoning.
 */
async function walkUnderLoad(
  name: string,
  points: CrashPoint[],
  options: { ratePerSecond: number; heavy?: boolean; operateMs?: number },
): Promise<void> {
  const pipeline = await Pipeline.start({
    scenario: name,
    workers: 2,
    env: { PUBLISH_TIMEOUT_MS: '2000', RETRY_DELAYS_MS: '200,500' },
    workerEnv: { HEARTBEAT_INTERVAL_S: '1', STARTED_EVENT_AFTER_MS: '0' },
    writerEnv: {
      SWEEP_INTERVAL_S: String(SWEEP_INTERVAL_S),
      SWEEP_REPUBLISH_AFTER_S: '4',
      WORKER_GONE_AFTER_S: String(WORKER_GONE_AFTER_S),
    },
  });
  const pool = inspectionPool(pipeline.databaseUrl);
  try {
    const load = await JobLoad.prepare(pipeline.baseUrl, pipeline.imagesDir, {
      apiKey: pipeline.adminApiKey,
      ratePerSecond: options.ratePerSecond,
      heavy: options.heavy,
    });
    const walk = new CrashWalk(pipeline, load);
    load.start();
    const operators = walk.operatorRaces();
    const steps: Array<{
      point: CrashPoint;
      exit: ExitStatus;
      from: number;
      to: number;
    }> = [];
    try {
      await sleep(2000);
      for (const point of points) steps.push(await walk.crashAt(point));
      await sleep(options.operateMs ?? 0);
    } finally {
      walk.stopOperators();
      await operators;
      await load.stop();
    }
    for (const step of steps)
      expect({
        point: step.point.point,
        in: step.point.in,
        exit: step.exit,
      }).toEqual({
        point: step.point.point,
        in: step.point.in,
        exit: { code: null, signal: 'SIGKILL' },
      });

    // Whatever operators cancelled runs again, so that every job of the load
    // must end succeeded.
    const accepted = [...load.accepted, ...walk.urlJobs];
    await waitUntilFinished(pool, accepted, 120_000);
    await walk.retryCancelled(pool, load.accepted);
    await waitUntilFinished(pool, accepted, 120_000);
    // Parked copies left by the last operator passes go; the jobs they name
    // have finished.
    await adminFetch(`${pipeline.baseUrl}/v1/dead-letters/jobs`, {
      method: 'DELETE',
    });
    // Two quiet passes of the sweeper (and time for a worker to count as gone):
    // whatever nothing can move is flagged now.
    await sleep((WORKER_GONE_AFTER_S + 3 * SWEEP_INTERVAL_S) * 1000);
    const stuck = (await (
      await adminFetch(`${pipeline.baseUrl}/v1/jobs?stuck=true&limit=500`)
    ).json()) as JobView[];

    const tally = await tallyJobs(pool, accepted);
    for (const step of steps) {
      const during = await tallyJobs(
        pool,
        load.acceptedBetween(step.from, step.to),
      );
      process.stdout.write(
        `${summaryLine(during, name, { fields: { point: step.point.point, in: step.point.in } })}\n`,
      );
    }
    process.stdout.write(
      `${summaryLine(tally, name, { fields: { points: steps.length, ...walk.operatorCalls, stuck: stuck.length } })}\n`,
    );

    expect(stuck.map((job) => `${job.id}: ${job.stuckReason}`)).toEqual([]);
    expect({ lost: tally.lostIds, duplicated: tally.duplicatedIds }).toEqual({
      lost: [],
      duplicated: [],
    });
    expectEnds(tally, new Set(walk.urlJobs));
    expect(Math.min(...Object.values(walk.operatorCalls))).toBeGreaterThan(0);
    await expectOutputsServedAsRecorded(pipeline, pool, accepted);
    await expectDrained(pipeline.prefix, {});
    await expectConsuming(pipeline);
  } catch (error) {
    await keepLogs(pipeline, name);
    throw error;
  } finally {
    await pool.end();
    await pipeline.stop();
  }
}

/**
 * Jobs of the load succeed; URL jobs fail as refused, or as purged when an
 * operator purged their running attempt.
 */
function expectEnds(tally: Tally, urlJobs: Set<string>): void {
  const wrong = tally.failures.filter(
    (failure) =>
      !urlJobs.has(failure.id) ||
      (failure.code !== JobErrorCode.sourceRefused &&
        failure.code !== JobErrorCode.purged),
  );
  expect(wrong).toEqual([]);
  expect(tally.failed).toBe(urlJobs.size);
}

/**
 * Each recorded output is served whole: the bytes have the size, format and
 * dimensions its row says.
 */
async function expectOutputsServedAsRecorded(
  pipeline: Pipeline,
  pool: Pool,
  ids: string[],
): Promise<void> {
  const { rows } = await pool.query<{
    job_id: string;
    name: string;
    format: string;
    width: number;
    height: number;
    size: number;
  }>(
    'SELECT job_id, name, format, width, height, size_bytes::int AS size FROM job_outputs WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, position',
    [ids],
  );
  expect(rows.length).toBeGreaterThan(0);
  const mismatched: string[] = [];
  for (const row of rows) {
    const bytes = Buffer.from(
      await (
        await adminFetch(
          `${pipeline.baseUrl}/v1/jobs/${row.job_id}/result/${row.name}`,
        )
      ).arrayBuffer(),
    );
    const decoded = await sharp(bytes).metadata();
    const served = {
      size: bytes.length,
      format: decoded.format,
      width: decoded.width,
      height: decoded.height,
    };
    const recorded = {
      size: row.size,
      format: row.format,
      width: row.width,
      height: row.height,
    };
    if (JSON.stringify(served) !== JSON.stringify(recorded))
      mismatched.push(
        `${row.job_id}/${row.name}: served ${JSON.stringify(served)}, recorded ${JSON.stringify(recorded)}`,
      );
  }
  expect(mismatched).toEqual([]);
}

/**
 * The walk's moves: arming a point and waiting for the crash, and the operators
 * racing the pipeline meanwhile.
 */
class CrashWalk {
  readonly urlJobs: string[] = [];
  readonly operatorCalls = { cancel: 0, retryFailed: 0, replay: 0, purge: 0 };
  private operating = true;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly load: JobLoad,
  ) {}

  /**
   * Restarts the point's process with the point armed, lets it die there, and
   * starts it again unarmed.
   */
  async crashAt(point: CrashPoint): Promise<{
    point: CrashPoint;
    exit: ExitStatus;
    from: number;
    to: number;
  }> {
    const from = Date.now();
    if (this.pipeline.isRunning(point.in))
      await this.pipeline.kill(point.in, 'SIGTERM');
    const exited = this.pipeline.startWith(point.in, {
      FAILPOINTS: `${point.point}=exit`,
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ExitStatus>(
      (resolve) =>
        (timer = setTimeout(
          () => resolve({ code: -1, signal: null }),
          FIRE_TIMEOUT_MS,
        )),
    );
    try {
      let triggered: Promise<void> | undefined;
      if (point.trigger) {
        const ready = this.pipeline
          .waitUntilProcessReady(point.in)
          .then(
            () => (triggered = point.trigger!(this).catch(() => undefined)),
          );
        await Promise.race([ready, exited]).catch(() => undefined);
        await triggered;
      }
      const exit = await Promise.race([exited, timeout]);
      return { point, exit, from, to: Date.now() };
    } finally {
      clearTimeout(timer);
      if (this.pipeline.isRunning(point.in))
        await this.pipeline.kill(point.in, 'SIGKILL');
      await this.pipeline.restart(point.in);
    }
  }

  /**
   * Until stopped: cancels recent jobs, retries cancelled ones, submits URL
   * jobs, parks copies of their messages, replays and purges them.
   */
  async operatorRaces(): Promise<void> {
    for (let round = 0; this.operating; round++) {
      await this.operatorMove(round).catch(() => undefined);
      await sleep(250);
    }
  }

  stopOperators(): void {
    this.operating = false;
  }

  private async operatorMove(round: number): Promise<void> {
    switch (round % 5) {
      case 0: {
        const recent = this.load.accepted.slice(-20);
        const id = recent[Math.floor(Math.random() * recent.length)];
        if (!id) return;
        this.operatorCalls.cancel++;
        await this.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
        return;
      }
      case 1:
        this.operatorCalls.retryFailed++;
        await this.api('/v1/jobs/retry-failed', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ code: JobErrorCode.cancelled, limit: 20 }),
        });
        return;
      case 2:
        await this.submitUrlJob();
        return;
      case 3:
        this.operatorCalls.replay++;
        await this.parkAndDrain('replay');
        return;
      case 4:
        this.operatorCalls.purge++;
        await this.parkAndDrain('purge');
        return;
    }
  }

  /** Has the producer die right after recording a job, before publishing it. */
  async leaveUnconfirmedJob(): Promise<void> {
    const { exit } = await this.crashAt({
      point: 'producer.after-insert',
      in: 'producer',
    });
    if (exit.signal !== 'SIGKILL')
      throw new Error(
        `the producer did not die after an insert: ${JSON.stringify(exit)}`,
      );
  }

  /** Retries a URL job that has failed (it fails again, on a new attempt). */
  async retryFailedUrlJob(): Promise<void> {
    const id = await this.failedUrlJob();
    await this.api(`/v1/jobs/${id}/retry`, { method: 'POST' });
  }

  /**
   * Parks a copy of a failed URL job's current message in the dead-letter
   * queue, then replays or purges the queue.
   */
  async parkAndDrain(action: 'replay' | 'purge'): Promise<void> {
    const id = await this.failedUrlJob();
    const job = (await (await this.api(`/v1/jobs/${id}`)).json()) as JobView;
    await parkCopy(`${this.pipeline.prefix}.jobs.dead`, id, job.attempt);
    if (action === 'replay')
      await this.api('/v1/dead-letters/jobs/replay?limit=5', {
        method: 'POST',
      });
    else await this.api('/v1/dead-letters/jobs?limit=5', { method: 'DELETE' });
  }

  /**
   * Runs again every job of `ids` that ended cancelled, until none is left
   * cancelled.
   */
  async retryCancelled(pool: Pool, ids: string[]): Promise<void> {
    await waitFor(
      async () => {
        const { rows } = await pool.query<{ id: string }>(
          `SELECT id FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'failed' AND error_code = $2`,
          [ids, JobErrorCode.cancelled],
        );
        if (rows.length === 0) return true;
        for (const { id } of rows)
          await this.api(`/v1/jobs/${id}/retry`, { method: 'POST' });
        await waitUntilFinished(
          pool,
          rows.map((row) => row.id),
          30_000,
        );
        return undefined;
      },
      120_000,
      'every cancelled job to have run again',
    );
  }

  private async submitUrlJob(): Promise<string | undefined> {
    const response = await this.api('/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(URL_JOB),
    });
    if (response.status !== 202) return undefined;
    const { id } = (await response.json()) as { id: string };
    this.urlJobs.push(id);
    return id;
  }

  /**
   * A URL job that has failed; submits one and waits for it if there is none
   * yet.
   */
  private async failedUrlJob(): Promise<string> {
    for (const id of [...this.urlJobs].reverse()) {
      const job = (await (
        await this.api(`/v1/jobs/${id}`)
      )
        .json()
        .catch(() => null)) as JobView | null;
      if (job?.status === 'failed') return id;
    }
    const id = await waitFor(
      () => this.submitUrlJob(),
      20_000,
      'a URL job to be accepted',
    );
    await waitFor(
      async () =>
        ((await (await this.api(`/v1/jobs/${id}`)).json()) as JobView)
          .status === 'failed'
          ? true
          : undefined,
      20_000,
      'the URL job to fail',
    );
    return id;
  }

  private api(path: string, init: RequestInit = {}): Promise<Response> {
    return adminFetch(`${this.pipeline.baseUrl}${path}`, {
      ...init,
      signal: AbortSignal.timeout(10_000),
    });
  }
}

/**
 * A parked job message as a worker leaves one behind: the job's message for
 * `attempt`, rejected.
 */
async function parkCopy(
  queue: string,
  jobId: string,
  attempt: number,
): Promise<void> {
  const connection = await connect(AMQP_URL);
  try {
    const channel = await connection.createConfirmChannel();
    const message = {
      jobId,
      attempt,
      ...URL_JOB,
      source: { kind: 'url', url: REFUSED_URL },
      output: {},
      submittedAt: new Date().toISOString(),
    };
    channel.sendToQueue(queue, Buffer.from(JSON.stringify(message)), {
      persistent: true,
      messageId: jobId,
      type: 'image.job',
      contentType: 'application/json',
    });
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}
