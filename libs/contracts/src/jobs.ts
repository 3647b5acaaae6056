import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { Operation } from './operations';
import { OutputInfo, OutputOptions } from './output';
import { VariantSpec } from './variants';
import {
  collectProblems,
  isPlainObject,
  parseOperations,
  parseOutputOptions,
  validateAs,
  ValidationFailed,
} from './validation';

export const JOB_STATUSES = [
  'queued',
  'processing',
  'succeeded',
  'failed',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * Where a job's input lives: a file in the read-only images folder, an upload
 * kept in storage, or a URL workers download.
 */
export type JobSource =
  | { kind: 'images'; path: string }
  | { kind: 'upload'; key: string }
  | { kind: 'url'; url: string };

export interface JobError {
  code: string;
  message: string;
}

/**
 * An output a job produced: its only one (named `default`), or one of its
 * variants.
 */
export interface NamedOutputInfo extends OutputInfo {
  name: string;
}

/** A step of a job's timeline, as the API shows it. */
export interface JobEventView {
  type:
    | 'queued'
    | 'started'
    | 'retrying'
    | 'succeeded'
    | 'failed'
    | 'retried'
    | 'purged';
  attempt: number;
  /**
   * Which delivery of the job's message (started, retrying, outcomes); null for
   * the producer's steps.
   */
  delivery: number | null;
  workerId: string | null;
  at: string;
  /**
   * The error of a failure or a retry, the outputs of a success, the reason of
   * an operator's step.
   */
  detail: unknown;
}

/** A job as the API shows it. */
export interface JobView {
  id: string;
  status: JobStatus;
  /**
   * The current run: 1, plus one for each time an operator ran the job again.
   */
  attempt: number;
  /**
   * Deliveries of the job to a worker that started it, over all attempts and
   * tries (redeliveries included).
   */
  deliveries: number;
  /** @deprecated `deliveries` under its former name; kept for one release. */
  attempts: number;
  /**
   * Unfinished, and either flagged by the sweeper (nothing can move it any
   * more: see `stuckReason`) or processing for longer than the stuck threshold.
   */
  stuck: boolean;
  /** Why the sweeper flagged the job stuck; null when it did not. */
  stuckReason: string | null;
  operations: Operation[];
  /**
   * The outputs asked for, when the job asked for several; null for a job with
   * one output.
   */
  variants: VariantSpec[] | null;
  /** The first (for most jobs the only) entry of `outputs`. */
  output: OutputInfo | null;
  /** Every output, in the order asked for, once the job succeeded. */
  outputs: NamedOutputInfo[];
  error: JobError | null;
  workerId: string | null;
  /** The API key that submitted the job (null for jobs from before keys). */
  apiKeyId: string | null;
  /**
   * The W3C trace id of the request that submitted the job, whose trace
   * follows it through the queue, the worker and the writer; null when
   * tracing was off.
   */
  traceId: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * When the retention sweep removed the uploaded input (the job can no longer
   * run again); null while it is kept, or for other sources.
   */
  inputExpiredAt: string | null;
  /**
   * When the retention sweep removed the outputs (their results answer 410
   * Gone); null while they are kept.
   */
  outputsExpiredAt: string | null;
}

/**
 * `source` of a JSON job: exactly one of `path` (in the images folder) and
 * `url`.
 */
export class RequestedSource {
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(1024) path?: string;
  /** http(s) only; where it leads is checked by the worker when it connects. */
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(2048) url?: string;
}

/**
 * What a user asks for: operations in order and the output encoding; or, with
 * `variants`, operations shared by several outputs, each with operations and an
 * encoding of its own (`output` is then empty).
 */
export interface JobSpec {
  operations: Operation[];
  output: OutputOptions;
  variants?: VariantSpec[];
}

/** Body of `POST /v1/jobs` sent as JSON. */
export interface JsonJobRequest extends JobSpec {
  source: { path: string } | { url: string };
}

/**
 * The fields of a request that say what to make, before presets are resolved.
 */
export interface RequestedSpecFields {
  operations: unknown;
  output: unknown;
  preset: unknown;
  outputs?: unknown;
}

/**
 * Parses operations and output options, adding what is wrong to `problems`;
 * `prefix` locates them (e.g. `message.`).
 */
export function parseSpecInto(
  problems: string[],
  operations: unknown,
  output: unknown,
  prefix = '',
): Partial<JobSpec> {
  if (operations === undefined)
    problems.push(
      `${prefix}operations is required (a JSON array of operations)`,
    );
  return {
    operations:
      operations === undefined
        ? undefined
        : collectProblems(problems, () =>
            parseOperations(operations, `${prefix}operations`),
          ),
    output: collectProblems(problems, () =>
      parseOutputOptions(output, `${prefix}output`),
    ),
  };
}

export function parseJobSpec(operations: unknown, output: unknown): JobSpec {
  const problems: string[] = [];
  const spec = parseSpecInto(problems, operations, output);
  if (problems.length > 0) throw new ValidationFailed(problems);
  return spec as JobSpec;
}

/**
 * The body of a JSON submission; `resolveSpec` turns operations, output and
 * preset into the job's spec.
 */
export function parseJsonJobRequest(
  body: unknown,
  resolveSpec: (fields: RequestedSpecFields) => JobSpec = ({
    operations,
    output,
  }) => parseJobSpec(operations, output),
): JsonJobRequest {
  if (!isPlainObject(body))
    throw new ValidationFailed([
      'body must be a JSON object with source, operations and output',
    ]);
  const { source, operations, output, preset, outputs, ...rest } = body;
  const problems = Object.keys(rest).map(
    (key) => `${key} is not a known field`,
  );
  const sourceHelp =
    'source.path (a file in the images folder) or source.url (an http or https URL)';
  if (source === undefined) problems.push(`source is required: ${sourceHelp}`);
  const parsedSource =
    source === undefined
      ? undefined
      : collectProblems(problems, () =>
          validateAs(RequestedSource, source, 'source'),
        );
  if (
    parsedSource &&
    (parsedSource.path === undefined) === (parsedSource.url === undefined)
  )
    problems.push(`source must have exactly one of ${sourceHelp}`);
  const spec = collectProblems(problems, () =>
    resolveSpec({ operations, output, preset, outputs }),
  );
  if (problems.length > 0) throw new ValidationFailed(problems);
  return {
    source:
      parsedSource!.path !== undefined
        ? { path: parsedSource!.path }
        : { url: parsedSource!.url! },
    ...spec!,
  };
}
