import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateBy,
} from 'class-validator';
import { hostname } from 'node:os';
import { amqpUrlListProblem } from './amqp-url-list';
import { CPU_SCHEDULING, CpuScheduling } from './cpu-scheduling';
import { DEFAULT_SOURCE_URL_PORTS, sourcePortsProblem } from './source-ports';
import { parseStorageLocation, storageUrlProblem } from './storage-location';

/**
 * What an app does with the topology when it connects: `declare` it (needs the
 * configure permission on it), or only `check` that it exists (passively), for
 * an app whose broker user may not configure anything; someone else must then
 * have declared it.
 */
export type TopologyMode = 'declare' | 'check';
export const TOPOLOGY_MODES: readonly TopologyMode[] = ['declare', 'check'];

/**
 * Waits before a job that failed transiently is tried again: one delay queue
 * each.
 */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [
  1000, 10_000, 60_000,
];

/**
 * A setting whose `problem` says what is wrong with its value (undefined when
 * nothing is); the message starts with the setting's name unless `named` is
 * false (the problem names it itself).
 */
const HasNoProblem = (
  name: string,
  problem: (value: unknown) => string | undefined,
  named = true,
) =>
  ValidateBy({
    name,
    validator: {
      validate: (value: unknown) => problem(value) === undefined,
      defaultMessage: (args) =>
        named
          ? `${args?.property} ${problem(args?.value)}`
          : (problem(args?.value) ?? ''),
    },
  });

/**
 * A rule on one setting that depends on others: `holds` and `message` are
 * given the value and the whole of the settings.
 */
const HoldsAmongSettings = <Config>(
  name: string,
  holds: (value: unknown, config: Config) => boolean,
  message: (config: Config) => string,
) =>
  ValidateBy({
    name,
    validator: {
      validate: (value: unknown, args) => holds(value, args?.object as Config),
      defaultMessage: (args) => message(args?.object as Config),
    },
  });

/**
 * One amqp:// or amqps:// URL, or several (a cluster's nodes), comma-separated;
 * the message names the bad entry.
 */
const IsAmqpUrlList = () => HasNoProblem('isAmqpUrlList', amqpUrlListProblem);

/**
 * Ports and port ranges, comma-separated (SOURCE_URL_PORTS); the message names
 * the bad entry.
 */
const IsPortList = () =>
  HasNoProblem('isPortList', (value) =>
    typeof value === 'string' ? sourcePortsProblem(value) : 'must be a string',
  );

/**
 * STORAGE_URL: empty, a folder's path or s3://<bucket>/<prefix>; the message
 * names what is wrong.
 */
const IsStorageUrl = () =>
  HasNoProblem(
    'isStorageUrl',
    (value) =>
      typeof value === 'string'
        ? storageUrlProblem(value)
        : 'STORAGE_URL must be a string',
    false,
  );

/**
 * An http(s) URL without credentials, or empty; `should` ends the message
 * (what the setting should be).
 */
const IsHttpUrlOrEmpty = (name: string, should: string) =>
  HasNoProblem(name, (value) =>
    typeof value === 'string' &&
    (value === '' || /^https?:\/\/[^\s/?#@]+(\/[^\s?#]*)?$/.test(value))
      ? undefined
      : `must be ${should}`,
  );

/** An http(s) endpoint URL of an S3-compatible server, or empty. */
const IsEndpointUrl = () =>
  IsHttpUrlOrEmpty(
    'isEndpointUrl',
    'the http(s):// URL of the S3 endpoint, such as https://s3.eu-west-1.amazonaws.com or http://rgw:7480, without credentials',
  );

/** An OTLP/HTTP endpoint, or empty (no traces). */
const IsOtlpUrl = () =>
  IsHttpUrlOrEmpty(
    'isOtlpUrl',
    'empty (no traces) or the http(s):// URL of an OTLP/HTTP endpoint, such as http://otel-collector:4318, without credentials',
  );

/**
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY come together, or neither (the
 * SDK's default credential chain).
 */
const SetWith = (other: string) =>
  ValidateBy({
    name: 'setWith',
    validator: {
      validate: (value: unknown, args) =>
        (value === '' || value === undefined) ===
        ((args?.object as Record<string, unknown>)[other] === '' ||
          (args?.object as Record<string, unknown>)[other] === undefined),
      defaultMessage: (args) =>
        `${args?.property} and ${other} are set together, or neither (the AWS SDK then finds credentials itself: IRSA, an instance role, a profile)`,
    },
  });

/**
 * Fewest distinct characters a secret may have: a random one of 32 or more has
 * far more, even in hex.
 */
const SECRET_MIN_DISTINCT_CHARACTERS = 10;

/**
 * Why a secret that is long enough is still no secret (a placeholder, a
 * pattern), or undefined.
 */
export function secretWeakness(value: string): string | undefined {
  if (PLACEHOLDER.test(value)) return 'is a placeholder (as in .env.example)';
  if (new Set(value).size < SECRET_MIN_DISTINCT_CHARACTERS)
    return `is not random enough (${SECRET_MIN_DISTINCT_CHARACTERS} distinct characters at least)`;
  return undefined;
}

/**
 * A secret that is not a placeholder nor a pattern; the message names the
 * setting, never the value.
 */
const IsRandomSecret = () =>
  ValidateBy({
    name: 'isRandomSecret',
    validator: {
      validate: (value: unknown) =>
        typeof value !== 'string' ||
        value.length < 32 ||
        secretWeakness(value) === undefined,
      defaultMessage: (args) =>
        `${args?.property} ${secretWeakness(String(args?.value ?? ''))}: set it to a random string (e.g. the output of openssl rand -base64 32)`,
    },
  });

/** The placeholder passwords of .env.example all say so. */
const PLACEHOLDER = /change-?me/i;

/** Whether any URL of a comma-separated list carries a placeholder password. */
function hasPlaceholderPassword(urls: string): boolean {
  return urls.split(',').some((url) => {
    try {
      return PLACEHOLDER.test(decodeURIComponent(new URL(url.trim()).password));
    } catch {
      return false; // not a URL: the setting's own check says so
    }
  });
}

const HasNoPlaceholderPassword = () =>
  ValidateBy({
    name: 'hasNoPlaceholderPassword',
    validator: {
      validate: (value: unknown) =>
        typeof value !== 'string' || !hasPlaceholderPassword(value),
      defaultMessage: (args) =>
        `${args?.property} has a placeholder password (as in .env.example): set a real one`,
    },
  });

/**
 * Default of MAX_INPUT_PIXELS and MAX_OUTPUT_PIXELS: an image of this size
 * takes up to 200 MB as 8-bit RGBA pixels.
 */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** Settings every app shares: where the broker and storage are, how to log. */
export class SharedConfig {
  /**
   * The broker: one amqp:// or amqps:// URL, or the URLs of a cluster's nodes,
   * comma-separated (each app connects to one of them and moves to another when
   * its node goes away).
   */
  @IsAmqpUrlList()
  @HasNoPlaceholderPassword()
  AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

  /**
   * Prefix of every exchange and queue, so several stacks (or test runs) can
   * share one broker.
   */
  @IsString()
  @Matches(/^[a-zA-Z0-9_.-]+$/, {
    message: 'AMQP_PREFIX may hold letters, digits, dot, dash and underscore',
  })
  AMQP_PREFIX = 'pipeline';

  /**
   * What the app does with the exchanges and queues when it connects: `declare`
   * them (its broker user needs the configure permission on them), or only
   * `check` that they exist, for a user without it; the app then waits, naming
   * what is missing, until whoever declares has done so.
   */
  @IsIn(TOPOLOGY_MODES, {
    message: `AMQP_TOPOLOGY must be one of ${TOPOLOGY_MODES.join(', ')}`,
  })
  AMQP_TOPOLOGY: TopologyMode = 'declare';

  /**
   * Seconds between heartbeats: a dead peer is noticed after about two of them.
   */
  @IsInt() @Min(1) @Max(600) AMQP_HEARTBEAT_S = 15;

  /**
   * Deliveries of one message before the broker parks it in the dead-letter
   * queue.
   */
  @IsInt() @Min(1) @Max(1000) AMQP_DELIVERY_LIMIT = 5;

  /**
   * Members (replicas) of each quorum queue when it is created; 0 leaves it to
   * the broker, which puts one on every cluster node. Only applies to queues
   * created after it is set.
   */
  @IsInt() @Min(0) @Max(99) AMQP_QUORUM_INITIAL_GROUP_SIZE = 0;

  /**
   * Delays before the retries of a job that failed transiently, in ms,
   * comma-separated: one delay queue each, the last one reused. Every app
   * declares them, so all must agree.
   */
  @Matches(/^\d{2,9}(,\d{2,9}){0,9}$/, {
    message:
      'RETRY_DELAYS_MS must be 1 to 10 delays in milliseconds, comma-separated (e.g. 1000,10000,60000)',
  })
  RETRY_DELAYS_MS = DEFAULT_RETRY_DELAYS_MS.join(',');

  /**
   * Longest a stopping app waits for the work in flight; what is not done by
   * then is redelivered.
   */
  @IsInt() @Min(0) @Max(3_600_000) SHUTDOWN_GRACE_MS = 25_000;

  /**
   * Shared folder for uploaded inputs and outputs, when STORAGE_URL does not
   * name another place.
   */
  @IsString() @IsNotEmpty() STORAGE_DIR = './data/storage';

  /**
   * Where uploaded inputs and outputs live: empty (the folder STORAGE_DIR), a
   * folder's path, or `s3://<bucket>/<prefix>` for a bucket of an S3-compatible
   * object store, which then needs no shared folder. The rest of the S3
   * settings are the AWS SDK's own (below), or its defaults.
   */
  @IsStorageUrl() STORAGE_URL = '';

  /**
   * Buckets addressed in the path (`host/bucket/key`), for servers without
   * virtual-hosted buckets (Ceph RGW, SeaweedFS, Garage).
   */
  @IsBoolean({ message: 'S3_FORCE_PATH_STYLE must be true or false' })
  S3_FORCE_PATH_STYLE = false;
  /**
   * The S3 endpoint, for a server other than AWS S3; AWS_ENDPOINT_URL is taken
   * when it is empty (as the AWS SDK does).
   */
  @IsEndpointUrl() AWS_ENDPOINT_URL_S3 = '';
  @IsEndpointUrl() AWS_ENDPOINT_URL = '';
  /**
   * The bucket's region; empty: the SDK's own (a profile), or any for a server
   * of one's own.
   */
  @IsString()
  @Matches(/^$|^[a-z0-9-]+$/, {
    message: 'AWS_REGION must be a region name such as eu-west-1',
  })
  AWS_REGION = '';
  /**
   * Static credentials; empty: the AWS SDK's default chain (IRSA, workload
   * identity, an instance role, a profile).
   */
  @IsString() @SetWith('AWS_SECRET_ACCESS_KEY') AWS_ACCESS_KEY_ID = '';
  @IsString() @SetWith('AWS_ACCESS_KEY_ID') AWS_SECRET_ACCESS_KEY = '';

  /** Read-only folder that JSON jobs name their inputs in. */
  @IsString() @IsNotEmpty() IMAGES_DIR = './data/images';

  /**
   * Traces: the OTLP/HTTP endpoint of a collector (`http://collector:4318`),
   * spans going to its `/v1/traces`; empty (the default) turns tracing off,
   * and nothing of the OpenTelemetry SDK is loaded.
   */
  @IsOtlpUrl() OTEL_EXPORTER_OTLP_ENDPOINT = '';
  /** The traces endpoint's full URL, instead of the general one's path. */
  @IsOtlpUrl() OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = '';
  /**
   * The service spans are recorded under; empty: the app's name (producer,
   * image-worker, results-writer).
   */
  @IsString()
  @Matches(/^[\x21-\x7e]{0,100}$/, {
    message:
      'OTEL_SERVICE_NAME must be up to 100 printable characters without spaces',
  })
  OTEL_SERVICE_NAME = '';
  /** Longest a finished span waits before its batch is exported, in ms. */
  @IsInt() @Min(1) @Max(60_000) OTEL_BSP_SCHEDULE_DELAY = 5000;

  @IsIn(['json', 'text']) LOG_FORMAT: 'json' | 'text' = 'json';
  @IsIn(['error', 'warn', 'log', 'debug', 'verbose']) LOG_LEVEL:
    'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';
}

/**
 * RESULT_DELIVERY=redirect needs a store that can sign a link to an object: a
 * bucket.
 */
const FitsStorage = () =>
  HoldsAmongSettings<ProducerConfig>(
    'fitsStorage',
    (value, config) =>
      value !== 'redirect' ||
      storageUrlProblem(config.STORAGE_URL) !== undefined ||
      parseStorageLocation(config.STORAGE_URL, config.STORAGE_DIR).kind ===
        's3',
    () =>
      'RESULT_DELIVERY=redirect needs STORAGE_URL=s3://<bucket>/<prefix>: a folder has no links to hand out',
  );

/**
 * The settings of the apps that use the database: the producer, the results
 * writer and the migrator. The image workers have no database, and are given
 * neither its URL nor its password.
 */
export class DatabaseConfig extends SharedConfig {
  @IsString()
  @Matches(/^postgres(ql)?:\/\//, {
    message: 'DATABASE_URL must be a postgres:// URL',
  })
  @HasNoPlaceholderPassword()
  DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/pipeline';

  @IsInt() @Min(1) @Max(200) DATABASE_POOL_SIZE = 10;
}

export class ProducerConfig extends DatabaseConfig {
  @IsInt() @Min(0) @Max(65535) PORT = 3000;
  @IsString() HOST = '0.0.0.0';
  /** How long to wait for the broker's confirm before answering 503. */
  @IsInt() @Min(100) @Max(120_000) PUBLISH_TIMEOUT_MS = 5000;
  @IsInt() @Min(1) MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
  /** Most jobs one `POST /v1/jobs/batch` may carry. */
  @IsInt() @Min(1) @Max(10_000) MAX_BATCH_JOBS = 100;
  /**
   * Most operations one batch request may carry, its jobs' and their outputs'
   * together (a job has 288 at most): counted before anything is validated, so
   * a request's cost is bounded.
   */
  @IsInt() @Min(1) @Max(1_000_000) MAX_BATCH_OPERATIONS = 2000;
  /** A worker whose last heartbeat is older than this is shown as gone. */
  @IsInt() @Min(1) WORKER_GONE_AFTER_S = 20;
  /**
   * A job processing for longer than this is shown as stuck (its worker
   * probably vanished; the broker hands it out again).
   */
  @IsInt() @Min(1) STUCK_AFTER_S = 300;
  /**
   * Named presets as JSON (name → {operations, output}); empty for the built-in
   * thumbnail, web and avatar.
   */
  @IsString() PRESETS = '';

  /**
   * The bootstrap admin key: a random string of 32 or more characters (e.g.
   * `openssl rand -base64 32`).
   */
  @IsString()
  @MinLength(32, {
    message:
      'ADMIN_API_KEY must be set to a random string of at least 32 characters (e.g. the output of openssl rand -base64 32)',
  })
  @IsRandomSecret()
  ADMIN_API_KEY = '';

  /** Length of the sliding rate-limit window, in seconds. */
  @IsInt() @Min(1) @Max(86_400) RATE_LIMIT_WINDOW_S = 60;
  /**
   * Requests one API key may make per window, over all producers together (0:
   * no limit); a key may have its own.
   */
  @IsInt() @Min(0) RATE_LIMIT_REQUESTS = 1200;
  /**
   * Jobs one API key may have queued or processing at once (0: no limit); a key
   * may have its own.
   */
  @IsInt() @Min(0) RATE_LIMIT_JOBS_IN_FLIGHT = 1000;
  /**
   * Bytes of uploaded inputs and outputs one API key may keep stored (until
   * they expire, see RETENTION_*_S); a key at it gets 413 for new jobs. Default
   * 10 GiB; 0: no limit; a key may have its own.
   */
  @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) QUOTA_STORED_BYTES =
    10 * 1024 ** 3;
  /**
   * Jobs one API key may submit per UTC day (429 with Retry-After to midnight
   * UTC past it). Default 100000; 0: no limit; a key may have its own.
   */
  @IsInt() @Min(0) QUOTA_JOBS_PER_DAY = 100_000;

  /**
   * Origins whose web pages may call the API, comma-separated (e.g.
   * `https://app.example.com`); empty: none (CORS closed).
   */
  @Matches(/^$|^(https?:\/\/[^\s,/]+)(,https?:\/\/[^\s,/]+)*$/, {
    message:
      'CORS_ORIGINS must be empty or a comma-separated list of origins such as https://app.example.com',
  })
  CORS_ORIGINS = '';

  /**
   * Port of `/metrics`, kept apart from the API's so that only the cluster
   * reaches it.
   */
  @IsInt() @Min(0) @Max(65535) METRICS_PORT = 9464;
  /**
   * Most pixels an image made by a job's operations may have, after any of
   * them; a job over it is refused with 400 when its input's size is known
   * (uploads and folder paths). As the workers'.
   */
  @IsInt() @Min(1) MAX_OUTPUT_PIXELS = DEFAULT_MAX_PIXELS;

  /**
   * Ports a URL source may name (`80,443,8000-8099`); another is refused with
   * 400 (the workers check it again).
   */
  @IsPortList() SOURCE_URL_PORTS = DEFAULT_SOURCE_URL_PORTS;

  /**
   * How `GET /v1/jobs/:id/result` hands out an output: `stream` (through the
   * producer, its checksum verified on the way) or `redirect` (302 to a
   * short-lived presigned URL of the bucket, so that large outputs bypass the
   * producer; needs STORAGE_URL=s3://…).
   */
  @IsIn(['stream', 'redirect'], {
    message: 'RESULT_DELIVERY must be stream or redirect',
  })
  @FitsStorage()
  RESULT_DELIVERY: 'stream' | 'redirect' = 'stream';
  /** How long a redirect's presigned URL works, in seconds. */
  @IsInt() @Min(1) @Max(604_800) RESULT_URL_EXPIRES_S = 300;
}

/**
 * Longest a worker may hold a job's message in the worst case: its turn behind
 * the messages it holds beyond WORKER_CONCURRENCY (each round up to the job
 * deadline), the job's own deadline, then the confirms of its started and
 * outcome events, each up to PUBLISH_TIMEOUT_MS.
 */
export function longestJobHoldMs(
  config: Pick<
    WorkerConfig,
    | 'JOB_TIMEOUT_S'
    | 'PUBLISH_TIMEOUT_MS'
    | 'WORKER_PREFETCH'
    | 'WORKER_CONCURRENCY'
  >,
): number {
  const rounds = Math.ceil(
    config.WORKER_PREFETCH /
      Math.min(config.WORKER_CONCURRENCY, config.WORKER_PREFETCH),
  );
  return rounds * config.JOB_TIMEOUT_S * 1000 + 2 * config.PUBLISH_TIMEOUT_MS;
}

/**
 * Longest a stopping worker takes to drain: the jobs it is processing run to
 * their deadline, then the confirms of their outcomes, each up to
 * PUBLISH_TIMEOUT_MS (the jobs it holds but has not started go back to the
 * queue at once).
 */
export function longestDrainMs(
  config: Pick<WorkerConfig, 'JOB_TIMEOUT_S' | 'PUBLISH_TIMEOUT_MS'>,
): number {
  return config.JOB_TIMEOUT_S * 1000 + 2 * config.PUBLISH_TIMEOUT_MS;
}

/**
 * A job must end well before the broker's consumer_timeout: past it RabbitMQ
 * closes the worker's channel and hands the job, still running, to another
 * worker. Half of it leaves room for the storage writes and a slow broker
 * around the job.
 */
const FitsConsumerTimeout = () =>
  HoldsAmongSettings<WorkerConfig>(
    'fitsConsumerTimeout',
    (_value, config) => {
      const settings = [
        config.JOB_TIMEOUT_S,
        config.PUBLISH_TIMEOUT_MS,
        config.AMQP_CONSUMER_TIMEOUT_MS,
        config.WORKER_PREFETCH,
        config.WORKER_CONCURRENCY,
      ];
      return (
        settings.some((value) => typeof value !== 'number' || !(value > 0)) ||
        longestJobHoldMs(config) * 2 <= config.AMQP_CONSUMER_TIMEOUT_MS
      );
    },
    (config) =>
      `JOB_TIMEOUT_S (${config.JOB_TIMEOUT_S} s) for each of the ${Math.ceil(config.WORKER_PREFETCH / Math.min(config.WORKER_CONCURRENCY, config.WORKER_PREFETCH))} turns a held job may wait and run ` +
      `(WORKER_PREFETCH ${config.WORKER_PREFETCH} over WORKER_CONCURRENCY ${config.WORKER_CONCURRENCY}), plus two publish confirms (PUBLISH_TIMEOUT_MS ${config.PUBLISH_TIMEOUT_MS} ms each), is ${longestJobHoldMs(config)} ms, ` +
      `more than half of AMQP_CONSUMER_TIMEOUT_MS (${config.AMQP_CONSUMER_TIMEOUT_MS} ms, the broker's consumer_timeout): lower them, or raise the broker's consumer_timeout and AMQP_CONSUMER_TIMEOUT_MS with it`,
  );

export class WorkerConfig extends SharedConfig {
  /** Port of the health endpoints. */
  @IsInt() @Min(0) @Max(65535) PORT = 3001;
  @IsString() HOST = '0.0.0.0';
  /**
   * Job messages a worker holds at once (the consumer's prefetch). Those beyond
   * WORKER_CONCURRENCY wait their turn in the worker, so that one job's waits
   * (confirms, acks, flushes) overlap with another's image work.
   */
  @IsInt() @Min(1) @Max(1000) WORKER_PREFETCH = 16;
  /**
   * Jobs a worker processes at once, each image on its own thread: what bounds
   * its memory.
   */
  @IsInt() @Min(1) @Max(256) WORKER_CONCURRENCY = 4;
  /**
   * How the kernel schedules the worker's threads: `normal` leaves the default;
   * `batch` (SCHED_BATCH) keeps its image work from preempting the broker, the
   * database and the producer when they wake on cores it keeps busy (more jobs
   * per second on busy cores, and a longer tail of latency for small jobs).
   */
  @IsIn(CPU_SCHEDULING) WORKER_CPU_SCHEDULING: CpuScheduling = 'normal';
  @IsString() @IsNotEmpty() WORKER_ID = `${hostname()}-${process.pid}`;
  @IsInt() @Min(100) @Max(120_000) PUBLISH_TIMEOUT_MS = 10_000;
  /**
   * A job still running after this long is announced as processing; quicker
   * ones go straight to their outcome.
   */
  @IsInt() @Min(0) @Max(600_000) STARTED_EVENT_AFTER_MS = 500;
  /**
   * Largest input, in pixels, a worker will decode (judged from the header,
   * before decoding).
   */
  @IsInt() @Min(1) MAX_INPUT_PIXELS = DEFAULT_MAX_PIXELS;
  /**
   * Most pixels an image made by a job's operations may have, after any of them
   * (judged from the input's header before decoding); more fail as
   * IMAGE_TOO_LARGE. Bounds the pixels held between stages.
   */
  @IsInt() @Min(1) MAX_OUTPUT_PIXELS = DEFAULT_MAX_PIXELS;
  /** Seconds between the worker's heartbeats. */
  @IsInt() @Min(1) @Max(300) HEARTBEAT_INTERVAL_S = 5;
  /**
   * Tries of a job that keeps failing transiently (the first and its retries)
   * before it fails for good.
   */
  @IsInt() @Min(1) @Max(100) MAX_TRIES = 4;
  /**
   * Most frames (of an animation, or pages of a TIFF) an input may declare;
   * more fail as IMAGE_TOO_LARGE.
   */
  @IsInt() @Min(1) MAX_INPUT_FRAMES = 500;
  /**
   * Longest one job may take, all of it (download, watermarks, every stage and
   * variant); past it the job fails with PROCESSING_TIMEOUT, for good. Must
   * stay well under AMQP_CONSUMER_TIMEOUT_MS.
   */
  @IsInt() @Min(1) @Max(3600) @FitsConsumerTimeout() JOB_TIMEOUT_S = 120;
  /**
   * The broker's consumer_timeout (deploy/rabbitmq/rabbitmq.conf, the chart's
   * rabbitmq.consumerTimeoutMs): a worker checks at start that its jobs end
   * well within it.
   */
  @IsInt() @Min(60_000) AMQP_CONSUMER_TIMEOUT_MS = 1_800_000;
  /**
   * Internal addresses URL sources may reach all the same: IPs and CIDR ranges,
   * comma-separated (e.g. `10.1.2.0/24`); empty refuses every internal address.
   */
  @IsString() SOURCE_URL_ALLOWLIST = '';
  /**
   * Ports URL sources and their redirects may name, comma-separated, ranges
   * allowed; another fails the job with SOURCE_REFUSED.
   */
  @IsPortList() SOURCE_URL_PORTS = DEFAULT_SOURCE_URL_PORTS;
  /** Largest download of a URL source. */
  @IsInt() @Min(1) SOURCE_URL_MAX_BYTES = 50 * 1024 * 1024;
  /** Longest a URL source's download may take, redirects included. */
  @IsInt() @Min(100) @Max(600_000) SOURCE_URL_TIMEOUT_MS = 20_000;
  @IsInt() @Min(0) @Max(20) SOURCE_URL_MAX_REDIRECTS = 3;
  /**
   * Input formats workers decode, comma-separated; libvips' other loaders (SVG,
   * PDF, …) are blocked.
   */
  @Matches(
    /^(jpeg|png|webp|gif|tiff|avif|heif)(,(jpeg|png|webp|gif|tiff|avif|heif))*$/,
    {
      message:
        'INPUT_FORMATS must be a comma-separated list of jpeg, png, webp, gif, tiff, avif, heif',
    },
  )
  INPUT_FORMATS = 'jpeg,png,webp,gif,tiff,avif,heif';
}

export class WriterConfig extends DatabaseConfig {
  @IsInt() @Min(0) @Max(65535) PORT = 3002;
  @IsString() HOST = '0.0.0.0';
  /** Unacked events the writer holds; bounds its batch size from above. */
  @IsInt() @Min(1) @Max(10_000) WRITER_PREFETCH = 1000;
  /** Most events committed in one transaction. */
  @IsInt() @Min(1) @Max(10_000) WRITER_MAX_BATCH = 500;
  /**
   * Seconds between the sweeper's passes (republishing unconfirmed jobs,
   * flagging stuck ones); 0 turns it off.
   */
  @IsInt() @Min(0) @Max(86_400) SWEEP_INTERVAL_S = 30;
  /**
   * A queued job whose broker confirm was not recorded this long after it was
   * written is published again. Longer than the producers' PUBLISH_TIMEOUT_MS,
   * so a publish still waiting for its confirm is left alone.
   */
  @IsInt() @Min(1) @Max(86_400) SWEEP_REPUBLISH_AFTER_S = 60;
  /**
   * A worker silent for this long is gone; a job must also have been quiet this
   * long before it can be flagged stuck.
   */
  @IsInt() @Min(1) WORKER_GONE_AFTER_S = 20;

  /**
   * Uploaded inputs are removed this long after their job finished (it can then
   * not be retried). Default 604800 (7 days); 0 keeps them.
   */
  @IsInt() @Min(0) RETENTION_UPLOADS_S = 604_800;
  /**
   * Outputs are removed this long after their job succeeded (their results then
   * answer 410). Default 2592000 (30 days); 0 keeps them.
   */
  @IsInt() @Min(0) RETENTION_OUTPUTS_S = 2_592_000;
  /**
   * Rows of finished jobs (with their timelines) are removed this long after
   * they finished; their files go no later. Default 0: job rows are kept for
   * ever.
   */
  @IsInt() @Min(0) RETENTION_JOBS_S = 0;
  /**
   * Seconds between the retention sweep's passes (in one writer at a time); 0
   * turns it off. Default 300.
   */
  @IsInt() @Min(0) @Max(86_400) RETENTION_SWEEP_INTERVAL_S = 300;
}

/**
 * A broker user's password: random, letters and digits only (it goes into
 * AMQP_URL).
 */
const IsBrokerPassword =
  (name: string) => (target: object, property: string) => {
    Matches(/^[A-Za-z0-9]{16,}$/, {
      message: `${name} must be set to a random password of 16 or more letters and digits (it goes into a URL)`,
    })(target, property);
    ValidateBy({
      name: 'isNoPlaceholder',
      validator: {
        validate: (value: unknown) =>
          typeof value !== 'string' ||
          value === '' ||
          secretWeakness(value) === undefined,
        defaultMessage: (args) =>
          `${name} ${secretWeakness(String(args?.value ?? ''))}: set it to a random password (e.g. the output of openssl rand -hex 16)`,
      },
    })(target, property);
  };

/**
 * The broker users setup
 * (`dist/migrator/broker-users.js`): creates the users
 * producer, worker and writer with the permissions of
 * brokerPermissions(AMQP_PREFIX) through RabbitMQ's management API, as its
 * administrator.
 */
export class BrokerUsersConfig {
  /**
   * The management API with an administrator's credentials:
   * http(s)://user:password@host:15672.
   */
  @Matches(/^https?:\/\/[^/:@]+:[^/@]+@[^/]+\/?$/, {
    message:
      "RABBITMQ_MANAGEMENT_URL must be http(s)://user:password@host:port of RabbitMQ's management API, with an administrator's credentials",
  })
  @HasNoPlaceholderPassword()
  RABBITMQ_MANAGEMENT_URL = '';

  /** The vhost the apps' AMQP_URL names ("/" unless the URL has a path). */
  @IsString() @IsNotEmpty() RABBITMQ_VHOST = '/';

  @IsString()
  @Matches(/^[a-zA-Z0-9_.-]+$/, {
    message: 'AMQP_PREFIX may hold letters, digits, dot, dash and underscore',
  })
  AMQP_PREFIX = 'pipeline';

  @IsBrokerPassword('RABBITMQ_PRODUCER_PASSWORD') RABBITMQ_PRODUCER_PASSWORD =
    '';
  @IsBrokerPassword('RABBITMQ_WORKER_PASSWORD') RABBITMQ_WORKER_PASSWORD = '';
  @IsBrokerPassword('RABBITMQ_WRITER_PASSWORD') RABBITMQ_WRITER_PASSWORD = '';
}
