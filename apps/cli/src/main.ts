import type {
  ApiKeyView,
  AuditEntryView,
  JobErrorCode,
  JobView,
  Scope,
} from '@pipeline/contracts';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  FlagError,
  parseDurationFlag,
  parseOperationFlag,
  progressLine,
} from './op-syntax';
import {
  ApiError,
  PipelineClient,
  ProducerUnreachableError,
} from './pipeline-client';

const USAGE = `Usage: pipeline <command> [options]

  submit <files or folders…> [--op name:field=value,…]… [--format F] [--quality N] [--preset P]
         [--concurrency N] [--out DIR] [--no-wait]
                          upload images as jobs, wait for them, print a summary
  status <id>             a job as the API shows it, with its timeline
  wait <id…>              wait until the jobs finish; exit 1 if any failed
  download <id> [dir]     save a job's outputs (default: the current folder)
  retry <id>              run a failed job again
  retry-failed [--code C] [--limit N]
                          run failed jobs again, oldest first (admin); cancelled ones only
                          with --code CANCELLED
  cancel <id>             cancel a queued or processing job (it fails with CANCELLED)
  monitor                 live figures of the pipeline, every 2 s (Ctrl-C to quit)
  keys create --name N --scope S [--scope S]… [--requests-per-window N] [--jobs-in-flight N]
              [--stored-bytes N] [--jobs-per-day N] [--expires-in D | --expires-at ISO]
                          create an API key (admin); prints it, the only time it is shown;
                          the limits and quotas replace the producer's defaults for it
  keys rotate <id> [--overlap D] [--expires-in D | --expires-at ISO]
                          give a key a new secret (admin); the old one works on for the
                          overlap (default 1h), the key keeps its id, scopes and jobs
  keys list               every API key, never the keys themselves (admin)
  keys revoke <id>        revoke a key, at once on every producer (admin)
  audit [--action A] [--limit N]
                          the latest changes admins made, newest first (admin)
                          (D: a duration such as 90m, 12h or 30d)

  --url URL               the producer (default: $PIPELINE_URL or http://localhost:3000)
  --api-key KEY           the API key to call with (default: $PIPELINE_API_KEY; prefer the
                          variable, since other users of the machine can see a command's flags)`;

const IMAGE_FILE = /\.(jpe?g|png|webp|gif|tiff?|avif|heic|heif)$/i;
const POLL_MS = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isFinished = (job: JobView) =>
  job.status === 'succeeded' || job.status === 'failed';

/**
 * Exit codes: 0 all went well, 1 a job failed, 2 the command or the producer is
 * at fault.
 */
class UsageError extends Error {}

/**
 * Writes a progress line in place on a terminal; elsewhere only the final
 * state, once.
 */
function progress(label: string, done: number, total: number): void {
  if (process.stderr.isTTY)
    process.stderr.write(`\r${progressLine(label, done, total)}`);
  if (done === total)
    process.stderr.write(
      process.stderr.isTTY ? '\n' : `${progressLine(label, done, total)}\n`,
    );
}

/** Runs `task` over `items`, `concurrency` at a time, in order of the items. */
async function eachLimited<T, R>(
  items: T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index]);
      }
    }),
  );
  return results;
}

async function expandInputs(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => null);
    if (!info) throw new UsageError(`${path} does not exist`);
    if (info.isDirectory())
      files.push(
        ...(await readdir(path))
          .filter((name) => IMAGE_FILE.test(name))
          .sort()
          .map((name) => join(path, name)),
      );
    else files.push(path);
  }
  if (files.length === 0) throw new UsageError('no image files to submit');
  return files;
}

async function waitForJobs(
  client: PipelineClient,
  ids: string[],
): Promise<JobView[]> {
  const finished = new Map<string, JobView>();
  progress('jobs   ', 0, ids.length);
  while (finished.size < ids.length) {
    const pending = ids.filter((id) => !finished.has(id));
    const jobs = await eachLimited(pending, 8, (id) => client.job(id));
    for (const job of jobs) if (isFinished(job)) finished.set(job.id, job);
    progress('jobs   ', finished.size, ids.length);
    if (finished.size < ids.length) await sleep(POLL_MS);
  }
  return ids.map((id) => finished.get(id)!);
}

/**
 * Fetches every output of the succeeded jobs and checks its size against the
 * job's record; saves them under `out` if given.
 */
async function verifyOutputs(
  client: PipelineClient,
  jobs: JobView[],
  out: string | undefined,
): Promise<{ verified: number; mismatched: string[] }> {
  const dir = out ?? tmpdir();
  if (out) await mkdir(out, { recursive: true });
  let verified = 0;
  const mismatched: string[] = [];
  for (const job of jobs.filter(
    (candidate) => candidate.status === 'succeeded',
  )) {
    for (const output of job.outputs) {
      const extension = output.format === 'jpeg' ? 'jpg' : output.format;
      const file = join(
        dir,
        job.outputs.length > 1
          ? `${job.id}-${output.name}.${extension}`
          : `${job.id}.${extension}`,
      );
      const bytes = await client.download(job.id, file, output.name);
      if (bytes === output.sizeBytes) verified++;
      else
        mismatched.push(
          `${job.id}/${output.name}: ${bytes} bytes, expected ${output.sizeBytes}`,
        );
      if (!out) await rm(file, { force: true });
    }
  }
  return { verified, mismatched };
}

function summarise(
  jobs: JobView[],
  seconds: number,
  outputs: { verified: number; mismatched: string[] },
): void {
  const succeeded = jobs.filter((job) => job.status === 'succeeded').length;
  const failed = jobs.filter((job) => job.status === 'failed');
  const byWorker = new Map<string, number>();
  for (const job of jobs)
    if (job.workerId)
      byWorker.set(job.workerId, (byWorker.get(job.workerId) ?? 0) + 1);
  console.log(
    `succeeded ${succeeded}, failed ${failed.length}, in ${seconds.toFixed(1)} s (${(jobs.length / seconds).toFixed(1)} images/s)`,
  );
  for (const [worker, count] of [...byWorker.entries()].sort())
    console.log(`  ${worker}: ${count} jobs`);
  console.log(
    `outputs verified: ${outputs.verified}${outputs.mismatched.length ? `, mismatched: ${outputs.mismatched.join('; ')}` : ''}`,
  );
  for (const job of failed)
    console.log(`  failed ${job.id}: ${job.error?.code} ${job.error?.message}`);
}

function reportRejected(rejected: string[], code: number): number {
  for (const line of rejected) console.log(`  rejected ${line}`);
  return rejected.length > 0 ? 1 : code;
}

type Flags = Record<string, string | boolean | string[] | undefined>;

async function submit(
  client: PipelineClient,
  positionals: string[],
  options: Flags,
): Promise<number> {
  const files = await expandInputs(positionals);
  const operations = ((options.op as string[] | undefined) ?? []).map(
    parseOperationFlag,
  );
  const output = {
    ...(options.format ? { format: options.format } : {}),
    ...(options.quality ? { quality: Number(options.quality) } : {}),
  };
  const fields = {
    operations: options.preset ? undefined : operations,
    output: Object.keys(output).length ? output : undefined,
    preset: options.preset as string | undefined,
  };
  const started = performance.now();
  let uploaded = 0;
  progress('upload ', 0, files.length);
  // A file the producer refuses (not an image, too large) is reported, and the
  // others go on.
  const rejected: string[] = [];
  const submitted = await eachLimited(
    files,
    Number(options.concurrency ?? 4),
    async (file) => {
      try {
        return await client.submitFile(file, fields);
      } catch (error) {
        if (!(error instanceof ApiError) || error.status >= 500) throw error;
        rejected.push(`${file}: ${error.message}`);
        return null;
      } finally {
        progress('upload ', ++uploaded, files.length);
      }
    },
  );
  const ids = submitted.filter((id): id is string => id !== null);
  if (options['no-wait']) {
    for (const id of ids) console.log(id);
  } else {
    const jobs = await waitForJobs(client, ids);
    const seconds = (performance.now() - started) / 1000;
    const outputs = await verifyOutputs(
      client,
      jobs,
      options.out as string | undefined,
    );
    summarise(jobs, seconds, outputs);
    if (
      jobs.some((job) => job.status === 'failed') ||
      outputs.mismatched.length > 0
    )
      return reportRejected(rejected, 1);
  }
  return reportRejected(rejected, 0);
}

function formatStats(
  stats: Awaited<ReturnType<PipelineClient['stats']>>,
  baseUrl: string,
): string {
  const lines = [
    `pipeline at ${baseUrl} — ${new Date().toLocaleTimeString()}`,
    '',
    `pending ${stats.jobs.queued}   processing ${stats.jobs.processing}   succeeded ${stats.jobs.succeeded}   failed ${stats.jobs.failed}   stuck ${stats.jobs.stuck}`,
    `throughput ${stats.throughput.perSecond.toFixed(2)} jobs/s over the last minute`,
    stats.queues
      ? `jobs queue ${stats.queues.jobs.ready} waiting, ${stats.queues.jobs.consumers} consumers; dead letters ${stats.queues.deadLetters.jobs.ready + stats.queues.deadLetters.events.ready}`
      : 'RabbitMQ unreachable',
    '',
    'worker                 heartbeat   in flight   succeeded   failed',
    ...stats.workers.map(
      (worker) =>
        `${worker.id.padEnd(22)} ${(worker.gone ? `gone ${worker.heartbeatAgeSeconds}s` : `${worker.heartbeatAgeSeconds}s ago`).padEnd(11)} ${String(worker.inFlight).padEnd(11)} ${String(worker.jobsSucceeded).padEnd(11)} ${worker.jobsFailed}`,
    ),
  ];
  return lines.join('\n');
}

async function monitor(
  client: PipelineClient,
  baseUrl: string,
): Promise<number> {
  let running = true;
  const stop = () => (running = false);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (running) {
    const screen = await client.stats().then(
      (stats) => formatStats(stats, baseUrl),
      (error: Error) => `pipeline at ${baseUrl}: ${error.message}`,
    );
    process.stdout.write(
      process.stdout.isTTY ? `\x1b[2J\x1b[H${screen}\n` : `${screen}\n\n`,
    );
    for (let waited = 0; running && waited < 2000; waited += 100)
      await sleep(100);
  }
  return 0;
}

function formatAuditEntry(entry: AuditEntryView): string {
  return `${entry.at}  ${entry.apiKeyName.padEnd(32)} ${entry.action.padEnd(28)} ${entry.target.padEnd(36)} ${entry.requestId}`;
}

function formatKey(key: ApiKeyView): string {
  const expiry = key.expiresAt ? `, expires ${key.expiresAt}` : '';
  const state = key.revokedAt
    ? `revoked ${key.revokedAt}`
    : `last used ${key.lastUsedAt ?? 'never'}${expiry}`;
  return `${key.id}  ${key.name.padEnd(32)} ${key.scopes.join(',').padEnd(20)} ${(key.prefix ?? 'ADMIN_API_KEY').padEnd(22)} ${state}`;
}

/**
 * `--expires-in D` or `--expires-at ISO` as the API's expiresAt; neither: the
 * key does not expire.
 */
function expiryFlags(options: Flags): { expiresAt?: string } {
  if (options['expires-in'] && options['expires-at'])
    throw new UsageError('give --expires-in or --expires-at, not both');
  if (options['expires-in'])
    return {
      expiresAt: new Date(
        Date.now() +
          parseDurationFlag('expires-in', options['expires-in'] as string) *
            1000,
      ).toISOString(),
    };
  return options['expires-at']
    ? { expiresAt: options['expires-at'] as string }
    : {};
}

/** What a command is called with: the client, its arguments and the flags. */
interface Invocation {
  client: PipelineClient;
  args: string[];
  options: Flags;
  baseUrl: string;
}

/** The limits a new key may be given, by flag. */
const KEY_LIMIT_FLAGS = {
  'requests-per-window': 'requestsPerWindow',
  'jobs-in-flight': 'jobsInFlight',
  'stored-bytes': 'storedBytes',
  'jobs-per-day': 'jobsPerDay',
} as const;

async function createKey({ client, args, options }: Invocation) {
  const scopes = (options.scope as string[] | undefined) ?? [];
  if (!options.name || scopes.length === 0 || args.length > 0)
    throw new UsageError(
      'keys create takes --name and at least one --scope (jobs:write, jobs:read, admin)',
    );
  const limits = Object.fromEntries(
    Object.entries(KEY_LIMIT_FLAGS)
      .filter(([flag]) => options[flag])
      .map(([flag, field]) => [field, Number(options[flag])]),
  );
  const created = await client.createKey({
    name: options.name as string,
    scopes: scopes as Scope[],
    ...limits,
    ...expiryFlags(options),
  });
  console.error(
    'The key is shown this once: keep it now (only its digest is stored).',
  );
  console.log(JSON.stringify(created, null, 2));
  return 0;
}

async function rotateKey({ client, args, options }: Invocation) {
  if (args.length !== 1) throw new UsageError('keys rotate takes one key id');
  const rotated = await client.rotateKey(args[0], {
    ...(options.overlap
      ? {
          overlapSeconds: parseDurationFlag(
            'overlap',
            options.overlap as string,
          ),
        }
      : {}),
    ...expiryFlags(options),
  });
  console.error(
    `The new key is shown this once: keep it now. The old one works until ${rotated.previousSecretExpiresAt}.`,
  );
  console.log(JSON.stringify(rotated, null, 2));
  return 0;
}

async function listKeys({ client }: Invocation) {
  for (const key of await client.keys()) console.log(formatKey(key));
  return 0;
}

async function revokeKey({ client, args }: Invocation) {
  if (args.length !== 1) throw new UsageError('keys revoke takes one key id');
  const revoked = await client.revokeKey(args[0]);
  console.log(`revoked ${revoked.id} (${revoked.name})`);
  return 0;
}

type Command = (invocation: Invocation) => Promise<number>;

const KEY_ACTIONS: Record<string, Command> = {
  create: createKey,
  rotate: rotateKey,
  list: listKeys,
  revoke: revokeKey,
};

function keys(invocation: Invocation): Promise<number> {
  const [action, ...args] = invocation.args;
  if (!Object.hasOwn(KEY_ACTIONS, action ?? ''))
    throw new UsageError('keys takes create, rotate, list or revoke');
  return KEY_ACTIONS[action]({ ...invocation, args });
}

const describeJob = (job: JobView) =>
  `${job.id} ${job.status}${job.error ? ` ${job.error.code}: ${job.error.message}` : ''}`;

async function status({ client, args }: Invocation) {
  if (args.length !== 1) throw new UsageError('status takes one job id');
  console.log(
    JSON.stringify(
      { ...(await client.job(args[0])), events: await client.events(args[0]) },
      null,
      2,
    ),
  );
  return 0;
}

async function wait({ client, args }: Invocation) {
  if (args.length === 0) throw new UsageError('wait takes one or more job ids');
  const jobs = await waitForJobs(client, args);
  for (const job of jobs) console.log(describeJob(job));
  return jobs.some((job) => job.status === 'failed') ? 1 : 0;
}

async function download({ client, args }: Invocation) {
  if (args.length < 1 || args.length > 2)
    throw new UsageError('download takes a job id and, optionally, a folder');
  const job = await client.job(args[0]);
  if (job.status !== 'succeeded')
    throw new UsageError(`job ${job.id} is ${job.status}; nothing to download`);
  const { verified, mismatched } = await verifyOutputs(
    client,
    [job],
    args[1] ?? '.',
  );
  console.log(`saved ${verified} output(s) to ${args[1] ?? '.'}`);
  return mismatched.length > 0 ? 1 : 0;
}

async function retry({ client, args }: Invocation) {
  if (args.length !== 1) throw new UsageError('retry takes one job id');
  const { attempt } = await client.retry(args[0]);
  console.log(`${args[0]} queued again as attempt ${attempt}`);
  return 0;
}

async function retryFailed({ client, args, options }: Invocation) {
  if (args.length > 0)
    throw new UsageError(
      'retry-failed takes no arguments, only --code and --limit',
    );
  const report = await client.retryFailed({
    ...(options.code ? { code: options.code as JobErrorCode } : {}),
    ...(options.limit ? { limit: Number(options.limit) } : {}),
  });
  for (const job of report.retried)
    console.log(`${job.id} queued again as attempt ${job.attempt}`);
  for (const job of report.skipped)
    console.error(`${job.id} skipped: ${job.reason}`);
  console.error(
    `retried ${report.retried.length}, skipped ${report.skipped.length}`,
  );
  if (report.stoppedBecause)
    throw new UsageError(`stopped early: ${report.stoppedBecause}`);
  return 0;
}

async function cancel({ client, args }: Invocation) {
  if (args.length !== 1) throw new UsageError('cancel takes one job id');
  console.log(describeJob(await client.cancel(args[0])));
  return 0;
}

async function audit({ client, args, options }: Invocation) {
  if (args.length > 0)
    throw new UsageError('audit takes no arguments, only --action and --limit');
  const entries = await client.audit({
    action: options.action as string | undefined,
    limit: options.limit as string | undefined,
  });
  for (const entry of entries) console.log(formatAuditEntry(entry));
  return 0;
}

const COMMANDS: Record<string, Command> = {
  submit: ({ client, args, options }) => submit(client, args, options),
  status,
  wait,
  download,
  retry,
  'retry-failed': retryFailed,
  cancel,
  monitor: ({ client, baseUrl }) => monitor(client, baseUrl),
  keys,
  audit,
};

const FLAGS = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  name: { type: 'string' },
  scope: { type: 'string', multiple: true },
  'requests-per-window': { type: 'string' },
  'jobs-in-flight': { type: 'string' },
  'stored-bytes': { type: 'string' },
  'jobs-per-day': { type: 'string' },
  'expires-in': { type: 'string' },
  'expires-at': { type: 'string' },
  overlap: { type: 'string' },
  action: { type: 'string' },
  code: { type: 'string' },
  limit: { type: 'string' },
  op: { type: 'string', multiple: true },
  format: { type: 'string' },
  quality: { type: 'string' },
  preset: { type: 'string' },
  concurrency: { type: 'string' },
  out: { type: 'string' },
  'no-wait': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: FLAGS,
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (!Object.hasOwn(COMMANDS, command))
    throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  const baseUrl =
    values.url ?? process.env.PIPELINE_URL ?? 'http://localhost:3000';
  const client = new PipelineClient(
    baseUrl,
    values['api-key'] ?? process.env.PIPELINE_API_KEY,
  );
  return COMMANDS[command]({ client, args, options: values, baseUrl });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const known =
      error instanceof UsageError ||
      error instanceof ProducerUnreachableError ||
      error instanceof ApiError ||
      error instanceof FlagError ||
      String((error as { code?: string }).code).startsWith('ERR_PARSE_ARGS');
    console.error(
      `pipeline: ${known ? (error as Error).message : ((error as Error).stack ?? String(error))}`,
    );
    process.exit(2);
  },
);
