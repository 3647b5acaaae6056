import { Topology } from '@pipeline/messaging';
import { connect } from 'amqplib';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'pg';
import { JobLoad } from '../faults/load';
import { tallyJobs, waitUntilFinished } from '../faults/tally';
import { adminFetch, TEST_ADMIN_KEY } from '../support/api-keys';
import {
  AMQP_URL,
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';
import {
  Launcher,
  RunningStack,
  spawnLauncher,
  startStack,
} from '../support/stack';
import { freePortBlock } from '../support/ports';
import { STACK_PORTS } from '../support/stack';
import { threadPolicies } from '../support/thread-policies';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * "Back within a few seconds": the first restart waits 1 s, and an app starts
 * in about another.
 */
const BACK_WITHIN_MS = 10_000;

/**
 * The process id of the launcher's child listening on `port` (each process is
 * given a PORT of its own).
 */
async function childOnPort(launcherPid: number, port: number): Promise<number> {
  const children = (
    await readFile(`/proc/${launcherPid}/task/${launcherPid}/children`, 'utf8')
  )
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  for (const pid of children) {
    const environment = (
      await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')
    ).split('\0');
    if (environment.includes(`PORT=${port}`)) return pid;
  }
  throw new Error(
    `no child of the launcher (${launcherPid}) has PORT=${port}; children: ${children.join(', ')}`,
  );
}

/** Consumers of a queue, as the broker counts them. */
async function consumersOf(queue: string): Promise<number> {
  const connection = await connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    return (await channel.checkQueue(queue)).consumerCount;
  } finally {
    await connection.close();
  }
}

describe('npm start supervises its processes', () => {
  describe('a worker and then the writer killed under a steady stream of uploads', () => {
    const prefix = uniqueName('e2e_supervise');
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
          HEARTBEAT_INTERVAL_S: '1',
          WORKER_GONE_AFTER_S: '3',
          WORKER_CPU_SCHEDULING: 'batch',
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

    it("with WORKER_CPU_SCHEDULING=batch, runs each worker's threads under SCHED_BATCH, the producer's and the writer's under the kernel's default", async () => {
      const { pid } = stack!;
      const policiesOn = async (childPort: number) =>
        new Set(
          (await threadPolicies(await childOnPort(pid, childPort))).values(),
        );
      expect({
        producer: await policiesOn(port),
        'worker-1': await policiesOn(port + 1),
        'worker-2': await policiesOn(port + 2),
        writer: await policiesOn(port + 3),
      }).toEqual({
        producer: new Set(['normal']),
        'worker-1': new Set(['batch']),
        'worker-2': new Set(['batch']),
        writer: new Set(['normal']),
      });
    });

    it('restarts each within seconds while the producer answers 202 throughout, and every accepted job succeeds once', async () => {
      const { baseUrl, pid } = stack!;
      const load = await JobLoad.prepare(baseUrl, join(folder.path, 'images'), {
        ratePerSecond: 10,
        apiKey: TEST_ADMIN_KEY,
      });
      load.start();
      await sleep(2_000);

      /**
       * SIGKILLs the child on `childPort`; resolves with the ms until the
       * launcher restarted it and its consumer is back.
       */
      const killAndTimeReturn = async (
        childPort: number,
        restartedLine: string,
        queue: string,
        consumers: number,
      ) => {
        process.kill(await childOnPort(pid, childPort), 'SIGKILL');
        const killedAt = Date.now();
        await waitFor(
          async () =>
            stack!.output().includes(restartedLine) &&
            (await consumersOf(queue)) === consumers
              ? true
              : undefined,
          30_000,
          restartedLine,
        );
        return Date.now() - killedAt;
      };
      let workerBackMs: number;
      let writerBackMs: number;
      try {
        workerBackMs = await killAndTimeReturn(
          port + 1,
          '[launcher] worker-1 restarted as worker-1.r1 (restart 1, pid',
          `${prefix}.jobs`,
          2,
        );
        await sleep(2_000);
        writerBackMs = await killAndTimeReturn(
          port + 3,
          '[launcher] writer restarted (restart 1, pid',
          `${prefix}.events`,
          1,
        );
        await sleep(2_000);
      } finally {
        await load.stop();
      }

      const answers = load.submissions.map((submission) => submission.status);
      expect(answers.length).toBeGreaterThanOrEqual(40);
      expect(answers.filter((status) => status !== 202)).toEqual([]);
      expect({
        workerBack: workerBackMs < BACK_WITHIN_MS,
        writerBack: writerBackMs < BACK_WITHIN_MS,
      }).toEqual({ workerBack: true, writerBack: true });

      expect(await waitUntilFinished(pool, load.accepted, 90_000)).toBe(0);
      const tally = await tallyJobs(pool, load.accepted);
      expect(tally).toMatchObject({
        accepted: answers.length,
        succeeded: answers.length,
        failed: 0,
        lost: 0,
        duplicated: 0,
      });
      // Exactly once, as PostgreSQL holds it: one row, one success event, per
      // accepted job.
      const { rows } = await pool.query(
        `SELECT count(DISTINCT j.id)::int AS jobs, count(e.*)::int AS successes
         FROM jobs j JOIN job_events e ON e.job_id = j.id AND e.type = 'succeeded' WHERE j.id = ANY($1::uuid[])`,
        [load.accepted],
      );
      expect(rows[0]).toEqual({
        jobs: answers.length,
        successes: answers.length,
      });

      const log = stack!.output();
      expect(log).toMatch(
        /\[launcher\] worker-1 exited \(signal SIGKILL after [\d.]+ s\); restart 1 in 1 s\n/,
      );
      expect(log).toMatch(
        /\[launcher\] writer exited \(signal SIGKILL after [\d.]+ s\); restart 1 in 1 s\n/,
      );
      expect(log).toContain(
        '[launcher] producer up · worker-1 up, 1 restart · worker-2 up · writer up, 1 restart\n',
      );
      console.log(
        `supervision: accepted=${answers.length} worker back in ${workerBackMs} ms, writer back in ${writerBackMs} ms`,
      );
    });

    it('shows the restarted worker as a new worker and the killed one as gone', async () => {
      const workers = await waitFor(
        async () => {
          const stats = (await (
            await adminFetch(`${stack!.baseUrl}/v1/stats`)
          ).json()) as { workers: Array<{ id: string; gone: boolean }> };
          const byId = Object.fromEntries(
            stats.workers.map((worker) => [worker.id, worker.gone]),
          );
          return byId['worker-1'] === true ? byId : undefined;
        },
        20_000,
        'worker-1 to be gone',
      );
      expect(workers).toEqual({
        'worker-1': true,
        'worker-1.r1': false,
        'worker-2': false,
      });
    });

    it('still drains every process and exits 0 on SIGTERM after the restarts', async () => {
      const code = await stack!.stop();
      stack = undefined;
      expect(code).toBe(0);
      expect({
        jobs: await consumersOf(`${prefix}.jobs`),
        events: await consumersOf(`${prefix}.events`),
      }).toEqual({ jobs: 0, events: 0 });
    });
  });

  it('gives up on a process that exits at once, stops the others and exits non-zero, saying why', async () => {
    const prefix = uniqueName('e2e_crashloop');
    const database = await createTestDatabase();
    const folder = await makeTempDir();
    const port = await freePortBlock(STACK_PORTS);
    let launcher: Launcher | undefined;
    try {
      // A setting the worker refuses: it exits with code 1 each time it starts,
      // the others run.
      const launchedAt = Date.now();
      launcher = spawnLauncher(
        {
          AMQP_PREFIX: prefix,
          WORKERS: '1',
          WORKER_CONCURRENCY: '0',
          DATABASE_URL: database.url,
          STORAGE_DIR: join(folder.path, 'storage'),
          IMAGES_DIR: folder.path,
        },
        port,
      );
      await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${port}/health/ready`).then(
            (r) => r.ok,
            () => false,
          ))
            ? true
            : undefined,
        30_000,
        'the producer to be ready',
      );
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        launcher.exited,
        new Promise(
          (resolve) => (timer = setTimeout(resolve, 90_000, 'still running')),
        ),
      ]);
      clearTimeout(timer);
      const log = launcher.output();
      expect(code).toBe(1);
      expect(log).toContain(
        'WORKER_CONCURRENCY must not be less than 1 (got 0)',
      );
      expect(
        log.match(
          /\[launcher\] worker-1 restarted as worker-1\.r\d \(restart \d/g,
        ),
      ).toEqual(
        [1, 2, 3, 4].map(
          (n) =>
            `[launcher] worker-1 restarted as worker-1.r${n} (restart ${n}`,
        ),
      );
      expect(log).toMatch(
        /\[launcher\] worker-1 keeps exiting: 5 times within 120 s, the last with exit code 1 after [\d.]+ s; stopping the pipeline \(its own lines above say why\)\n/,
      );
      expect(
        log
          .split('\n')
          .filter((line) => line.startsWith('[launcher]'))
          .at(-1),
      ).toBe(
        '[launcher] pipeline stopped: worker-1 kept exiting (5 times within 120 s, the last with exit code 1)',
      );
      // The back-off between the five exits (1 + 2 + 4 + 8 s), and no longer
      // than starting five times takes besides.
      expect(Date.now() - launchedAt).toBeGreaterThanOrEqual(15_000);
      expect(Date.now() - launchedAt).toBeLessThan(60_000);
      // The producer (PORT) and the writer (PORT + 2, after the one worker)
      // were stopped with it.
      const answer = (appPort: number) =>
        fetch(`http://127.0.0.1:${appPort}/health/live`).then(
          (r) => r.status,
          (error: Error) => (error.cause as { code?: string })?.code,
        );
      expect({
        producer: await answer(port),
        writer: await answer(port + 2),
      }).toEqual({ producer: 'ECONNREFUSED', writer: 'ECONNREFUSED' });
    } finally {
      if (
        launcher &&
        launcher.child.exitCode === null &&
        launcher.child.signalCode === null
      ) {
        launcher.child.kill('SIGTERM');
        await launcher.exited;
      }
      await deleteTopology(new Topology(prefix, 1)).catch(() => undefined);
      await database.drop();
      await folder.remove();
    }
  });
});
