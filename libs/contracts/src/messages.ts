import { Type } from 'class-transformer';
import { Allow, IsArray, IsBoolean, IsIn, IsInt, IsISO8601, IsNotEmpty, IsDefined, IsObject, IsOptional, IsString, IsUUID, Min, ValidateNested } from 'class-validator';
import { JobError, JobSource, JobSpec, NamedOutputInfo, parseSpecInto } from './jobs';
import { Operation } from './operations';
import { OutputOptions } from './output';
import { collectProblems, isPlainObject, validateAs, ValidationFailed } from './validation';
import { DEFAULT_OUTPUT_NAME, parseVariantSpecs, VariantSpec } from './variants';

/** AMQP `type` property of each message; consumers dispatch on it. */
export const MessageType = {
  imageJob: 'image.job',
  jobEvent: 'job.event',
  workerHeartbeat: 'worker.heartbeat',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Work for an image worker. Carries references to storage, never image bytes. */
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

/** The message that runs attempt `attempt` of a job as recorded; one shape for first runs, retries and republishes. */
export function imageJobMessage(
  job: { id: string; source: JobSource; operations: Operation[]; output: OutputOptions; variants?: VariantSpec[]; createdAt: Date },
  attempt: number,
): ImageJobMessage {
  const { id, createdAt, ...spec } = job;
  return { jobId: id, attempt, ...spec, submittedAt: createdAt.toISOString() };
}

/** An output a worker stored: what it is and where. */
export interface StoredOutput extends NamedOutputInfo {
  key: string;
}

/** `retrying`: a try failed transiently and the job waits in a delay queue for the next. */
export const JOB_EVENT_TYPES = ['started', 'retrying', 'succeeded', 'failed'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/** A step in a job's life, recorded by the results writer. */
export interface JobEventMessage {
  /** Idempotency key: a redelivered or republished event carries the same id and changes nothing. */
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
   * On an outcome: when this delivery started. Workers announce `started` separately only for
   * jobs that run long enough for someone to see them processing; for the rest the writer
   * records the start from here, which saves a message per job.
   */
  startedAt?: string;
}

/**
 * Event ids are derived, not random, so that a worker that redoes a step after a crash
 * produces the same id: one `started` per delivery, one outcome per attempt.
 */
export function jobEventId(jobId: string, attempt: number, type: JobEventType, delivery: number): string {
  return type === 'started' || type === 'retrying' ? `${jobId}/${attempt}/${type}/${delivery}` : `${jobId}/${attempt}/outcome`;
}

/**
 * The attempt a job message (parsed from JSON, valid or not) is of, as workers act on it: a
 * message without a valid `attempt` runs, and fails, as the first.
 */
export function attemptOfJobMessage(payload: unknown): number {
  const attempt = isPlainObject(payload) ? payload.attempt : undefined;
  return typeof attempt === 'number' && Number.isInteger(attempt) && attempt >= 1 ? attempt : 1;
}

const SOURCE_REFERENCE = { images: 'path', upload: 'key', url: 'url' } as const;

class JobSourceShape {
  @IsIn(Object.keys(SOURCE_REFERENCE)) kind: JobSource['kind'];
  @IsOptional() @IsString() @IsNotEmpty() path?: string;
  @IsOptional() @IsString() @IsNotEmpty() key?: string;
  @IsOptional() @IsString() @IsNotEmpty() url?: string;
}

class ImageJobEnvelope {
  @IsUUID() jobId: string;
  @IsInt() @Min(1) attempt: number;
  @IsDefined({ message: '$property is required (an object with kind and path or key)' }) @ValidateNested() @Type(() => JobSourceShape)
  source: JobSourceShape;
  @Allow() operations: unknown;
  @Allow() output: unknown;
  @Allow() variants: unknown;
  @IsISO8601() submittedAt: string;
}

/** Checks a job message from the broker; what fails here is a poison message, not a retryable one. */
export function parseImageJobMessage(raw: unknown): ImageJobMessage {
  const problems: string[] = [];
  const envelope = collectProblems(problems, () => validateAs(ImageJobEnvelope, raw, 'message'));
  if (!isPlainObject(raw)) throw new ValidationFailed(problems);
  const source = envelope?.source;
  const field = source ? SOURCE_REFERENCE[source.kind] : undefined;
  const reference = source && field ? source[field] : undefined;
  if (source && !reference) problems.push(`message.source.${field} is required for kind ${source.kind}`);
  // The operations are checked even when the envelope is broken, so the report is complete.
  const spec = parseSpecInto(problems, raw.operations, raw.output, 'message.') as JobSpec;
  const variants = raw.variants === undefined ? undefined : collectProblems(problems, () => parseVariantSpecs(raw.variants, 'message.variants'));
  if (!envelope || !source || problems.length > 0) throw new ValidationFailed(problems);
  return {
    jobId: envelope.jobId,
    attempt: envelope.attempt,
    source: { kind: source.kind, [field!]: reference } as JobSource,
    operations: spec.operations,
    output: spec.output,
    ...(variants ? { variants } : {}),
    submittedAt: envelope.submittedAt,
  };
}

class JobEventShape {
  @IsString() @IsNotEmpty() eventId: string;
  @IsUUID() jobId: string;
  @IsIn(JOB_EVENT_TYPES) type: JobEventType;
  @IsInt() @Min(1) attempt: number;
  @IsInt() @Min(1) delivery: number;
  @IsString() @IsNotEmpty() workerId: string;
  @IsISO8601() at: string;
  @IsOptional() @IsArray() @IsObject({ each: true }) outputs?: StoredOutput[];
  /** The single output of events from workers that predate variants. */
  @IsOptional() @IsObject() output?: Omit<StoredOutput, 'name'>;
  @IsOptional() @IsObject() error?: JobError;
  @IsOptional() @IsISO8601() startedAt?: string;
}

export function parseJobEventMessage(raw: unknown): JobEventMessage {
  const { output, ...event } = validateAs(JobEventShape, raw, 'message');
  if (output && !event.outputs) event.outputs = [{ name: DEFAULT_OUTPUT_NAME, ...output }];
  if (event.type === 'succeeded' && !event.outputs?.length) throw new ValidationFailed(['message.outputs is required for a succeeded event']);
  if ((event.type === 'failed' || event.type === 'retrying') && !event.error) throw new ValidationFailed([`message.error is required for a ${event.type} event`]);
  if (event.type === 'started' && event.startedAt) throw new ValidationFailed(['message.startedAt belongs on an outcome, not on a started event']);
  return { ...event };
}

/** A worker saying it is alive, every few seconds, with what it has done since it started. */
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

class WorkerHeartbeatShape {
  @IsString() @IsNotEmpty() workerId: string;
  @IsString() host: string;
  @IsInt() @Min(0) pid: number;
  @IsISO8601() startedAt: string;
  @IsISO8601() at: string;
  @IsInt() @Min(0) jobsSucceeded: number;
  @IsInt() @Min(0) jobsFailed: number;
  @IsInt() @Min(0) inFlight: number;
  @IsBoolean() stopping: boolean;
}

export function parseWorkerHeartbeat(raw: unknown): WorkerHeartbeatMessage {
  return { ...validateAs(WorkerHeartbeatShape, raw, 'message') };
}
