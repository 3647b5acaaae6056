'use strict';
// The launcher's decisions, apart from its processes so that they can be tested
// on their own: how long to wait before restarting a process that exited, when
// a process that keeps exiting is a broken configuration rather than bad luck,
// how many workers to run, and the status line.

/**
 * Restarts wait 1 s, 2 s, 4 s … up to 30 s; a process that ran a minute before
 * exiting starts again from 1 s. Five exits of one process within two minutes
 * stop the pipeline: a process that cannot start (a bad setting, a port in use)
 * would otherwise be restarted for ever.
 */
const RESTART_POLICY = Object.freeze({
  firstDelayMs: 1_000,
  maxDelayMs: 30_000,
  healthyAfterMs: 60_000,
  crashLimit: 5,
  crashWindowMs: 120_000,
});

/**
 * The wait before a restart at back-off step `step` (0 for the first):
 * doubling, capped.
 */
function restartDelay(step, policy = RESTART_POLICY) {
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** step);
}

/** A process's supervision record before its first exit. */
function freshRecord() {
  return { restarts: 0, step: 0, exits: [] };
}

/**
 * What to do about a process that exited on its own at `now`, having started at
 * `startedAt` (ms timestamps), given its record: `{record, decision}`, where
 * decision is either `{restart: true, delayMs, restartNumber}` or
 * `{restart: false, exits, windowMs}` (give up).
 */
function decideAfterExit(record, { startedAt, now }, policy = RESTART_POLICY) {
  const exits = [
    ...record.exits.filter((at) => now - at < policy.crashWindowMs),
    now,
  ];
  if (exits.length >= policy.crashLimit) {
    return {
      record: { ...record, exits },
      decision: {
        restart: false,
        exits: exits.length,
        windowMs: policy.crashWindowMs,
      },
    };
  }
  const step = now - startedAt >= policy.healthyAfterMs ? 0 : record.step;
  const restartNumber = record.restarts + 1;
  return {
    record: { restarts: restartNumber, step: step + 1, exits },
    decision: {
      restart: true,
      delayMs: restartDelay(step, policy),
      restartNumber,
    },
  };
}

/** How a process ended, as node reports it: `exit code 1`, `signal SIGKILL`. */
function describeExit(code, signal) {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}

/** 1500 → `1.5 s`; 30000 → `30 s`. */
function seconds(ms) {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * The WORKER_ID of a worker slot's current process: the slot's name at first,
 * then a new name for each restart, so that the heartbeat table shows the
 * restarted worker as a new one and the old one as gone, as a new container
 * would.
 */
function workerIdFor(slot, restarts) {
  return restarts === 0 ? slot : `${slot}.r${restarts}`;
}

/**
 * WORKERS: a whole number from 1, or `auto` for one per core; unset means 2.
 */
function parseWorkers(value, cores) {
  if (value === undefined || value === '') return 2;
  if (value === 'auto') return Math.max(1, cores);
  if (!/^[1-9]\d*$/.test(value))
    throw new Error(
      `WORKERS must be a whole number of at least 1, or "auto" for one per core (${cores} here); got "${value}"`,
    );
  return Number(value);
}

/**
 * One line for every process, e.g.
 * `producer up · worker-1 up, 1 restart · writer restarting in 2 s`.
 * Each entry: `{name, restarts, restartAt}` with restartAt (ms timestamp) while
 * waiting to restart.
 */
function statusLine(processes, now) {
  return processes
    .map(({ name, restarts, restartAt }) => {
      const state =
        restartAt === undefined
          ? 'up'
          : `restarting in ${seconds(Math.max(0, restartAt - now))}`;
      return restarts === 0
        ? `${name} ${state}`
        : `${name} ${state}, ${restarts} restart${restarts === 1 ? '' : 's'}`;
    })
    .join(' · ');
}

module.exports = {
  RESTART_POLICY,
  restartDelay,
  freshRecord,
  decideAfterExit,
  describeExit,
  seconds,
  workerIdFor,
  parseWorkers,
  statusLine,
};
