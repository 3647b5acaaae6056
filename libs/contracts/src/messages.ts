import {
  JobError,
  JobSource,
  JobSpec,
  NamedOutputInfo,
  parseSpecInto,
} from './jobs';
import { Operation } from './operations';
import { OutputOptions } from './output';
import {
  checkShape,
  collectProblems,
  FieldChecks as check,
  isPlainObject,
  objectShape,
  shapeProblems,
  ValidationFailed,
} from './validation';
import {
  DEFAULT_OUTPUT_NAME,
  parseVariantSpecs,
  VariantSpec,
} from './variants';

/** AMQP `type` property of each message; consumers dispatch on it. */
export const MessageType = {
  imageJob: 'image.job',
  jobEvent: 'job.event',
  workerHeartbeat: 'worker.heartbeat',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * Work for an image worker. Carries references to storage, never image bytes.
 */
export interface ImageJobMessage {
  jobId: string;
  /** 1 for the first run; a replayed job carries the next number. */
  attempt: number;
  source: JobSource;
  operations: Operation[];
  output: OutputOptions;
  /** Present when the job asked for several outputs. */
  variants?: VariantSpec[];
  submittedAt: string;
}

/** A job as recorded: what it takes to publish it (again). */
export interface RecordedJob {
  id: string;
  source: JobSource;
  operations: Operation[];
  output: OutputOptions;
  variants?: VariantSpec[];
  createdAt: Date;
}

/**
 * The message that runs attempt `attempt` of a job as recorded; one shape for
 * first runs, retries and republishes.
 */
export function imageJobMessage(
  job: RecordedJob,
  attempt: number,
): ImageJobMessage {
  const { id, createdAt, ...spec } = job;
  return { jobId: id, attempt, ...spec, submittedAt: createdAt.toISOString() };
}

/** An output a worker stored: what it is and where. */
export interface StoredOutput extends NamedOutputInfo {
  key: string;
  /**
   * SHA-256 of the stored bytes, hex: a download checks them against it. Absent
   * from workers that predate it.
   */
  sha256?: string;
}

/**
 * `retrying`: a try failed transiently and the job waits in a delay queue for
 * the next.
 */
export const JOB_EVENT_TYPES = [
  'started',
  'retrying',
  'succeeded',
  'failed',
] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/** A step in a job's life, recorded by the results writer. */
export interface JobEventMessage {
  /**
   * Idempotency key: a redelivered or republished event carries the same id and
   * changes nothing.
   */
  eventId: string;
  jobId: string;
  type: JobEventType;
  attempt: number;
  /** Which broker delivery of the job message this is (1 = first). */
  delivery: number;
  workerId: string;
  at: string;
  /** On success: every output, in the order the job asked for them. */
  outputs?: StoredOutput[];
  error?: JobError;
  /**
   * On an outcome: when this delivery started. Workers announce `started`
   * separately only for jobs that run long enough for someone to see them
   * processing; for the rest the writer records the start from here, which
   * saves a message per job.
   */
  startedAt?: string;
}

/**
 * Event ids are derived, not random, so that a worker that redoes a step after
 * a crash produces the same id: one `started` per delivery, one outcome per
 * attempt.
 */
export function jobEventId(
  jobId: string,
  attempt: number,
  type: JobEventType,
  delivery: number,
): string {
  return type === 'started' || type === 'retrying'
    ? eventIdOf(jobId, attempt, type, delivery)
    : eventIdOf(jobId, attempt, 'outcome');
}

/** The id of the step the producer records with a job: its first attempt. */
export function queuedEventId(jobId: string): string {
  return eventIdOf(jobId, 1, 'queued');
}

/** The steps an operator's action adds to a job's timeline. */
export type OperatorEventType = 'retried' | 'purged';

/**
 * The id of an operator's step: a retry starts a new attempt, so there is one
 * per attempt; a purge may come again, and its id is this prefix followed by
 * the time the database recorded it.
 */
export function operatorEventId(
  jobId: string,
  attempt: number,
  type: OperatorEventType,
): string {
  return type === 'retried'
    ? eventIdOf(jobId, attempt, type)
    : `${eventIdOf(jobId, attempt, type)}/`;
}

function eventIdOf(jobId: string, attempt: number, ...rest: unknown[]): string {
  return [jobId, attempt, ...rest].join('/');
}

/**
 * The attempt a job message (parsed from JSON, valid or not) is of, as workers
 * act on it: a message without a valid `attempt` runs, and fails, as the first.
 */
export function attemptOfJobMessage(payload: unknown): number {
  const attempt = isPlainObject(payload) ? payload.attempt : undefined;
  return typeof attempt === 'number' &&
    Number.isInteger(attempt) &&
    attempt >= 1
    ? attempt
    : 1;
}

const SOURCE_REFERENCE = { images: 'path', upload: 'key', url: 'url' } as const;
const SOURCE_KINDS = Object.keys(SOURCE_REFERENCE) as Array<JobSource['kind']>;

// Internal messages are checked by hand rather than with class-validator, whose
// cost showed in the workers' and the writer's profiles; they are not part of
// the HTTP API's description.
const JOB_SOURCE = objectShape({
  kind: check.oneOf(SOURCE_KINDS),
  path: check.optional(check.nonEmptyString),
  key: check.optional(check.nonEmptyString),
  url: check.optional(check.nonEmptyString),
});

const IMAGE_JOB_ENVELOPE = objectShape({
  jobId: check.uuid,
  attempt: check.integerFrom(1),
  source: check.any,
  operations: check.any,
  output: check.any,
  variants: check.any,
  submittedAt: check.isoDate,
});

function parseJobSource(
  problems: string[],
  raw: unknown,
  path: string,
): JobSource | undefined {
  if (raw === undefined || raw === null) {
    problems.push(`${path} is required (an object with kind and path or key)`);
    return undefined;
  }
  if (!isPlainObject(raw)) {
    problems.push(`${path} must be an object with kind and path, key or url`);
    return undefined;
  }
  const found = shapeProblems(raw, JOB_SOURCE, path);
  if (found.length > 0) {
    problems.push(...found);
    return undefined;
  }
  const kind = raw.kind as JobSource['kind'];
  const field = SOURCE_REFERENCE[kind];
  const reference = raw[field];
  if (reference === undefined || reference === null) {
    problems.push(`${path}.${field} is required for kind ${kind}`);
    return undefined;
  }
  // Only the reference the kind uses is kept.
  return { kind, [field]: reference } as JobSource;
}

/**
 * Checks a job message from the broker; what fails here is a poison message,
 * not a retryable one.
 */
export function parseImageJobMessage(raw: unknown): ImageJobMessage {
  if (!isPlainObject(raw))
    throw new ValidationFailed(['message must be an object']);
  const problems = shapeProblems(raw, IMAGE_JOB_ENVELOPE, 'message');
  const source = parseJobSource(problems, raw.source, 'message.source');
  // The operations are checked even when the envelope is broken, so the report
  // is complete.
  const spec = parseSpecInto(
    problems,
    raw.operations,
    raw.output,
    'message.',
  ) as JobSpec;
  const variants =
    raw.variants === undefined
      ? undefined
      : collectProblems(problems, () =>
          parseVariantSpecs(raw.variants, 'message.variants'),
        );
  if (problems.length > 0) throw new ValidationFailed(problems);
  return {
    jobId: raw.jobId as string,
    attempt: raw.attempt as number,
    source: source!,
    operations: spec.operations,
    output: spec.output,
    ...(variants ? { variants } : {}),
    submittedAt: raw.submittedAt as string,
  };
}

const JOB_EVENT = objectShape({
  eventId: check.nonEmptyString,
  jobId: check.uuid,
  type: check.oneOf(JOB_EVENT_TYPES),
  attempt: check.integerFrom(1),
  delivery: check.integerFrom(1),
  workerId: check.nonEmptyString,
  at: check.isoDate,
  outputs: check.optional(check.arrayOfObjects),
  /** The single output of events from workers that predate variants. */
  output: check.optional(check.object),
  error: check.optional(check.object),
  startedAt: check.optional(check.isoDate),
});

export function parseJobEventMessage(raw: unknown): JobEventMessage {
  const { output, ...event } = checkShape(
    raw,
    JOB_EVENT,
    'message',
  ) as unknown as JobEventMessage & { output?: Omit<StoredOutput, 'name'> };
  if (output && !event.outputs)
    event.outputs = [{ name: DEFAULT_OUTPUT_NAME, ...output }];
  if (event.type === 'succeeded' && !event.outputs?.length)
    throw new ValidationFailed([
      'message.outputs is required for a succeeded event',
    ]);
  if ((event.type === 'failed' || event.type === 'retrying') && !event.error)
    throw new ValidationFailed([
      `message.error is required for a ${event.type} event`,
    ]);
  if (event.type === 'started' && event.startedAt)
    throw new ValidationFailed([
      'message.startedAt belongs on an outcome, not on a started event',
    ]);
  return event;
}

/**
 * A worker saying it is alive, every few seconds, with what it has done since
 * it started.
 */
export interface WorkerHeartbeatMessage {
  workerId: string;
  host: string;
  pid: number;
  startedAt: string;
  at: string;
  jobsSucceeded: number;
  jobsFailed: number;
  inFlight: number;
  /** The last heartbeat of a worker shutting down cleanly. */
  stopping: boolean;
}

const WORKER_HEARTBEAT = objectShape({
  workerId: check.nonEmptyString,
  host: check.string,
  pid: check.integerFrom(0),
  startedAt: check.isoDate,
  at: check.isoDate,
  jobsSucceeded: check.integerFrom(0),
  jobsFailed: check.integerFrom(0),
  inFlight: check.integerFrom(0),
  stopping: check.boolean,
});

export function parseWorkerHeartbeat(raw: unknown): WorkerHeartbeatMessage {
  return checkShape(
    raw,
    WORKER_HEARTBEAT,
    'message',
  ) as unknown as WorkerHeartbeatMessage;
}
