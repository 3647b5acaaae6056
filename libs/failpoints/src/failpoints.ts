/**
 * Named points on a job's path where a test can make the process die or stall,
 * to prove that every step survives a crash right after it. Armed only by the
 * FAILPOINTS environment variable, e.g.
 * `FAILPOINTS=writer.after-commit=exit,producer.after-insert=delay:3000`;
 * unset, a failpoint costs one lookup in an empty map.
 */
export const FAILPOINT_NAMES = [
  /** The job's row is recorded as queued; its message is not published yet. */
  'producer.after-insert',
  /**
   * The job's message is confirmed by the broker; the client has no answer yet.
   */
  'producer.after-confirm',
  /**
   * A job message or job event is handed to the broker; its confirm has not
   * come back. Any app that publishes.
   */
  'publish.before-confirm',
  /** Every output of a job is stored; its outcome is not published yet. */
  'worker.after-output-stored',
  /**
   * The outcome event is confirmed by the broker; the job message is not acked
   * yet.
   */
  'worker.after-outcome-published',
  /** A batch of events is committed; its messages are not acked yet. */
  'writer.after-commit',
  /**
   * A retry's new attempt is written (not committed); its message is not
   * published yet.
   */
  'retry.before-publish',
  /** A retry's message is confirmed; its transaction is not committed yet. */
  'retry.after-publish',
  /**
   * A replayed job's new attempt is published; its parked message is not acked
   * yet.
   */
  'replay.after-publish',
  /**
   * A purged job is recorded as failed; its parked message is not acked yet.
   */
  'purge.after-record',
  /**
   * The sweeper republished a job nobody had confirmed; it is not marked
   * published yet.
   */
  'sweeper.after-publish',
] as const;
export type FailpointName = (typeof FAILPOINT_NAMES)[number];

export type FailpointAction = { kind: 'exit' } | { kind: 'delay'; ms: number };

/** Reads a FAILPOINTS value; throws naming the entry that is wrong. */
export function parseFailpoints(
  value: string | undefined,
): Map<FailpointName, FailpointAction> {
  const armed = new Map<FailpointName, FailpointAction>();
  for (const entry of (value ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const [name, action] = entry.split('=');
    if (!(FAILPOINT_NAMES as readonly string[]).includes(name)) {
      throw new Error(
        `FAILPOINTS: unknown failpoint ${JSON.stringify(name)} (known: ${FAILPOINT_NAMES.join(', ')})`,
      );
    }
    const delay = /^delay:(\d{1,7})$/.exec(action ?? '');
    if (action === 'exit') armed.set(name as FailpointName, { kind: 'exit' });
    else if (delay)
      armed.set(name as FailpointName, { kind: 'delay', ms: Number(delay[1]) });
    else
      throw new Error(
        `FAILPOINTS: ${JSON.stringify(entry)} must end in =exit or =delay:<ms>`,
      );
  }
  return armed;
}

const armed = parseFailpoints(process.env.FAILPOINTS);

/**
 * Passes the named point: returns undefined at once unless FAILPOINTS arms it;
 * then either kills the process on the spot (SIGKILL: no cleanup runs, as in a
 * real crash) or resolves after a delay.
 */
export function failpoint(name: FailpointName): Promise<void> | undefined {
  const action = armed.get(name);
  if (!action) return undefined;
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: 'failpoint reached', failpoint: name, action: action.kind, pid: process.pid })}\n`,
  );
  if (action.kind === 'exit') process.kill(process.pid, 'SIGKILL');
  return new Promise((resolve) =>
    setTimeout(resolve, action.kind === 'delay' ? action.ms : 0),
  );
}
