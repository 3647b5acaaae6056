import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { waitFor } from '../support/resources';
import { consumerCounts, undrainedQueues } from './broker-state';
import { Pipeline, PipelineOptions } from './harness';
import { JobLoad, LoadOptions } from './load';
import {
  inspectionPool,
  summaryLine,
  Tally,
  tallyJobs,
  waitUntilFinished,
} from './tally';

/** Load before the fault is injected, so that it hits a pipeline at work. */
export const WARMUP_MS = 3000;
/**
 * Load after the fault is over, so that the pipeline is seen taking jobs again.
 */
export const COOLDOWN_MS = 2000;
/**
 * Jobs the producer must accept after the fault: it came back (reconnected) by
 * itself.
 */
export const ACCEPTED_AFTER_FAULT = 10;
const RECOVERY_TIMEOUT_MS = 60_000;
/**
 * How long the reckoning waits for a job to finish after the last one did: a
 * busy machine slows the pipeline down, a lost job stops it for good.
 */
export const FINISH_STALL_MS = 90_000;
export const DRAIN_TIMEOUT_MS = 30_000;

export interface ScenarioContext {
  pipeline: Pipeline;
  load: JobLoad;
  /** The scenario's database, for looking at jobs. */
  pool: Pool;
}

/** Checks a scenario makes once its jobs are finished and counted. */
type Checks = () => Promise<void> | void;

export interface Scenario {
  name: string;
  pipeline?: Omit<PipelineOptions, 'scenario' | 'workers'> & {
    workers?: number;
  };
  load: LoadOptions;
  /** Shortest time the load runs, fault included. */
  loadMs?: number;
  /**
   * Injects the fault while the load runs, and undoes it (in a finally) before
   * returning; may return checks to make at the end.
   */
  fault: (context: ScenarioContext) => Promise<Checks | void>;
  /**
   * Runs once every accepted job is finished, before they are counted (e.g. to
   * deliver something late).
   */
  afterFinished?: (context: ScenarioContext) => Promise<void>;
  /**
   * Queues the scenario fills on purpose (a dead-letter queue), by full name,
   * with the ready messages each must hold at the end; every other queue of the
   * prefix must be empty.
   */
  parked?: (prefix: string) => Record<string, number>;
  /**
   * Jobs the scenario cancelled (answered 200): each must end failed with
   * CANCELLED; every other job must succeed.
   */
  cancelled?: () => string[];
}

export const sleep = (ms: number) =>
  new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one fault scenario end to end: a fresh pipeline under load, the fault,
 * then the reckoning. Prints the scenario's summary line and adds its tally to
 * `tallies`; fails when an accepted job was lost, finished twice or failed
 * although its input was fine, when a queue was left with messages in it, or
 * when a process did not come back to work.
 */
export async function runScenario(
  scenario: Scenario,
  tallies: Tally[],
): Promise<void> {
  const pipeline = await Pipeline.start({
    scenario: scenario.name,
    workers: scenario.pipeline?.workers ?? 2,
    ...scenario.pipeline,
  });
  const pool = inspectionPool(pipeline.databaseUrl);
  try {
    const load = await JobLoad.prepare(pipeline.baseUrl, pipeline.imagesDir, {
      apiKey: pipeline.adminApiKey,
      ...scenario.load,
    });
    const context = { pipeline, load, pool };
    const checks = await underLoad(scenario, context);
    await waitUntilFinished(pool, load.accepted, FINISH_STALL_MS);
    await scenario.afterFinished?.(context);
    const tally = await tallyJobs(pool, load.accepted);
    tallies.push(tally);
    const cancelled = new Set(scenario.cancelled?.() ?? []);
    process.stdout.write(
      `${summaryLine(tally, scenario.name, { fields: cancelled.size > 0 ? { cancelled: cancelled.size } : {} })}\n`,
    );

    expect({ lost: tally.lostIds, duplicated: tally.duplicatedIds }).toEqual({
      lost: [],
      duplicated: [],
    });
    // Every input is a valid image: a failed job is a fault the pipeline let
    // through, unless it was cancelled.
    expect(
      tally.failures.filter(
        (failure) => !cancelled.has(failure.id) || failure.code !== 'CANCELLED',
      ),
    ).toEqual([]);
    expect(tally.failures.length).toBe(cancelled.size);
    await expectDrained(
      pipeline.prefix,
      scenario.parked?.(pipeline.prefix) ?? {},
    );
    await expectConsuming(pipeline);
    await checks?.();
  } catch (error) {
    await keepLogs(pipeline, scenario.name);
    throw error;
  } finally {
    await pool.end();
    await pipeline.stop();
  }
}

async function underLoad(
  scenario: Scenario,
  context: ScenarioContext,
): Promise<Checks | void> {
  const startedAt = Date.now();
  context.load.start();
  try {
    await sleep(WARMUP_MS);
    const checks = await scenario.fault(context);
    await acceptedAfter(context.load, Date.now(), 'after the fault');
    await sleep(
      Math.max(
        COOLDOWN_MS,
        startedAt + (scenario.loadMs ?? 12_000) - Date.now(),
      ),
    );
    return checks;
  } finally {
    await context.load.stop();
  }
}

/**
 * Waits until the producer has accepted ACCEPTED_AFTER_FAULT jobs sent since
 * `from`: it works again.
 */
export async function acceptedAfter(
  load: JobLoad,
  from: number,
  what: string,
): Promise<void> {
  await waitFor(
    () => (load.acceptedSince(from) >= ACCEPTED_AFTER_FAULT ? true : undefined),
    RECOVERY_TIMEOUT_MS,
    `the producer to accept ${ACCEPTED_AFTER_FAULT} jobs ${what}`,
  );
}

/**
 * Waits (bounded) until the prefix's queues hold nothing but what the scenario
 * parked on purpose.
 */
export async function expectDrained(
  prefix: string,
  parked: Record<string, number>,
): Promise<void> {
  let wrong = {};
  try {
    await waitFor(
      async () => {
        wrong = await undrainedQueues(prefix, parked);
        return Object.keys(wrong).length === 0 ? true : undefined;
      },
      DRAIN_TIMEOUT_MS,
      'the queues to drain',
    );
  } catch {
    // Shown as a difference: which queue holds what.
  }
  expect(wrong).toEqual({});
}

/**
 * Every process is back to work: ready (connected to what it needs), and each
 * worker and the writer consuming once, no more (a consumer attached twice
 * after a reconnect would double what a process takes at once; one not attached
 * again would leave it idle but healthy).
 */
export async function expectConsuming(pipeline: Pipeline): Promise<void> {
  await pipeline.waitUntilAllReady();
  const running = (prefix: string) =>
    pipeline.names.filter(
      (name) => name.startsWith(prefix) && pipeline.isRunning(name),
    ).length;
  const expected = {
    [`${pipeline.prefix}.jobs`]: running('worker-'),
    [`${pipeline.prefix}.events`]: running('writer'),
  };
  let counts = {};
  await waitFor(
    async () => {
      counts = await consumerCounts(Object.keys(expected));
      return JSON.stringify(counts) === JSON.stringify(expected)
        ? true
        : undefined;
    },
    30_000,
    'every worker and the writer to consume',
  ).catch(() => undefined);
  expect(counts).toEqual(expected);
}

/** Saves what the processes of a failed scenario said, and says where. */
export async function keepLogs(
  pipeline: Pipeline,
  name: string,
  suite = 'faults',
): Promise<void> {
  const folder = join(tmpdir(), `pipeline-${suite}-logs`);
  await mkdir(folder, { recursive: true });
  const file = join(folder, `${pipeline.prefix}.log`);
  await writeFile(file, `${pipeline.output()}\n`);
  process.stderr.write(
    `${suite}: scenario ${name} failed; the processes' output is in ${file}\n`,
  );
}
