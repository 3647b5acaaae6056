// The launcher is plain JavaScript, run by node without a build step.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const supervision = require('./supervision') as {
  RESTART_POLICY: {
    firstDelayMs: number;
    maxDelayMs: number;
    healthyAfterMs: number;
    crashLimit: number;
    crashWindowMs: number;
  };
  restartDelay: (step: number) => number;
  freshRecord: () => SupervisionRecord;
  decideAfterExit: (
    record: SupervisionRecord,
    run: { startedAt: number; now: number },
  ) => { record: SupervisionRecord; decision: Decision };
  describeExit: (code: number | null, signal: string | null) => string;
  seconds: (ms: number) => string;
  workerIdFor: (slot: string, restarts: number) => string;
  parseWorkers: (value: string | undefined, cores: number) => number;
  statusLine: (
    processes: Array<{ name: string; restarts: number; restartAt?: number }>,
    now: number,
  ) => string;
};
const {
  RESTART_POLICY,
  restartDelay,
  freshRecord,
  decideAfterExit,
  describeExit,
  seconds,
  workerIdFor,
  parseWorkers,
  statusLine,
} = supervision;

interface SupervisionRecord {
  restarts: number;
  step: number;
  exits: number[];
}
type Decision =
  | { restart: true; delayMs: number; restartNumber: number }
  | { restart: false; exits: number; windowMs: number };

/**
 * Runs a process through exits, each after running `ranMs` and then waiting its
 * back-off; returns every decision.
 */
function exitsAfter(runs: number[]): Decision[] {
  let record = freshRecord();
  let now = 0;
  const decisions: Decision[] = [];
  for (const ranMs of runs) {
    const startedAt = now;
    now += ranMs;
    const next = decideAfterExit(record, { startedAt, now });
    record = next.record;
    decisions.push(next.decision);
    if (!next.decision.restart) break;
    now += next.decision.delayMs;
  }
  return decisions;
}

describe("the launcher's restart policy", () => {
  it('waits 1 s, 2 s, 4 s … before each restart, never more than 30 s', () => {
    expect(Array.from({ length: 8 }, (_, step) => restartDelay(step))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('doubles the wait for each exit of a process that keeps failing, and counts the restarts', () => {
    const decisions = exitsAfter([
      10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000,
    ]);
    expect(decisions.slice(0, 4)).toEqual([
      { restart: true, delayMs: 1_000, restartNumber: 1 },
      { restart: true, delayMs: 2_000, restartNumber: 2 },
      { restart: true, delayMs: 4_000, restartNumber: 3 },
      { restart: true, delayMs: 8_000, restartNumber: 4 },
    ]);
    // The fifth exit, 4 × 10 s runs + 15 s of waits after the first, is within
    // two minutes: the end.
    expect(decisions[4]).toEqual({
      restart: false,
      exits: 5,
      windowMs: 120_000,
    });
    expect(decisions).toHaveLength(5);
  });

  it('gives up on a process that exits at once, at its fifth exit', () => {
    const decisions = exitsAfter(Array.from({ length: 10 }, () => 300));
    expect(decisions.map((decision) => decision.restart)).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    expect(decisions[4]).toEqual({
      restart: false,
      exits: RESTART_POLICY.crashLimit,
      windowMs: RESTART_POLICY.crashWindowMs,
    });
  });

  it('keeps restarting a process that runs 40 s before each exit, the wait capped at 30 s', () => {
    const decisions = exitsAfter(Array.from({ length: 10 }, () => 40_000));
    expect(
      decisions.map((decision) =>
        decision.restart ? decision.delayMs : 'gave up',
      ),
    ).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000,
      30_000,
    ]);
    expect(
      decisions.map((decision) => decision.restart && decision.restartNumber),
    ).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('starts the back-off again from 1 s after a minute of running, and keeps counting restarts', () => {
    let record = freshRecord();
    for (const at of [1_000, 3_000, 7_000])
      record = decideAfterExit(record, { startedAt: at - 500, now: at }).record;
    expect(record.step).toBe(3);
    expect(
      decideAfterExit(record, { startedAt: 8_000, now: 67_999 }).decision,
    ).toEqual({ restart: true, delayMs: 8_000, restartNumber: 4 });
    expect(
      decideAfterExit(record, { startedAt: 8_000, now: 68_000 }).decision,
    ).toEqual({ restart: true, delayMs: 1_000, restartNumber: 4 });
    const healthy = decideAfterExit(record, {
      startedAt: 140_000,
      now: 200_000,
    });
    expect(
      decideAfterExit(healthy.record, { startedAt: 201_000, now: 202_000 })
        .decision,
    ).toEqual({ restart: true, delayMs: 2_000, restartNumber: 5 });
  });

  it('counts every exit within two minutes towards the limit, a long run between them too', () => {
    let record = freshRecord();
    for (const [startedAt, now] of [
      [0, 1_000],
      [2_000, 3_000],
      [5_000, 7_000],
      [15_000, 80_000],
    ])
      record = decideAfterExit(record, { startedAt, now }).record;
    expect(
      decideAfterExit(record, { startedAt: 81_000, now: 82_000 }).decision,
    ).toEqual({ restart: false, exits: 5, windowMs: 120_000 });
  });

  it('forgets exits older than two minutes when counting towards the limit', () => {
    let record = freshRecord();
    for (const at of [0, 1_000, 2_000, 3_000])
      record = decideAfterExit(record, { startedAt: at - 500, now: at }).record;
    expect(
      decideAfterExit(record, { startedAt: 3_500, now: 4_000 }).decision
        .restart,
    ).toBe(false);
    const later = decideAfterExit(record, { startedAt: 121_000, now: 121_500 });
    expect(later.decision.restart).toBe(true);
    expect(later.record.exits).toEqual([2_000, 3_000, 121_500]);
  });
});

describe("the launcher's messages and settings", () => {
  it('says how a process ended: its exit code, or the signal that ended it', () => {
    expect(describeExit(1, null)).toBe('exit code 1');
    expect(describeExit(0, null)).toBe('exit code 0');
    expect(describeExit(null, 'SIGKILL')).toBe('signal SIGKILL');
    expect([
      seconds(1_000),
      seconds(1_500),
      seconds(30_000),
      seconds(123),
    ]).toEqual(['1 s', '1.5 s', '30 s', '0.1 s']);
  });

  it("names a restarted worker anew, so that its heartbeats are a new worker's", () => {
    expect(
      [0, 1, 2].map((restarts) => workerIdFor('worker-2', restarts)),
    ).toEqual(['worker-2', 'worker-2.r1', 'worker-2.r2']);
  });

  it('runs two workers by default, as many as asked, or one per core with WORKERS=auto', () => {
    expect(parseWorkers(undefined, 8)).toBe(2);
    expect(parseWorkers('', 8)).toBe(2);
    expect(parseWorkers('4', 8)).toBe(4);
    expect(parseWorkers('auto', 8)).toBe(8);
    expect(parseWorkers('auto', 1)).toBe(1);
  });

  it.each(['0', '-1', '1.5', 'two', ' 3', 'AUTO'])(
    'refuses WORKERS=%p, naming the setting and what it takes',
    (value) => {
      expect(() => parseWorkers(value, 6)).toThrow(
        `WORKERS must be a whole number of at least 1, or "auto" for one per core (6 here); got "${value}"`,
      );
    },
  );

  it('shows each process in the status line, with its restarts and the wait before the next', () => {
    const line = statusLine(
      [
        { name: 'producer', restarts: 0 },
        { name: 'worker-1', restarts: 1 },
        { name: 'worker-2', restarts: 0 },
        { name: 'writer', restarts: 3, restartAt: 12_000 },
      ],
      10_000,
    );
    expect(line).toBe(
      'producer up · worker-1 up, 1 restart · worker-2 up · writer restarting in 2 s, 3 restarts',
    );
  });
});
