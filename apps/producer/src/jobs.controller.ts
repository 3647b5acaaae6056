import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Logger,
  NotFoundException,
  ConflictException,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiKeyGuard,
  ApiKeysService,
  Caller,
  CurrentCaller,
  jobOwnerFilter,
  RequireScopes,
} from '@pipeline/auth';
import {
  Actor,
  batchOperationCount,
  BulkRetryReport,
  canonicalJson,
  CONTENT_TYPES,
  isPlainObject,
  JOB_STATUSES,
  JobSource,
  JobEventView,
  JobSpec,
  JobStatus,
  JobView,
  JsonJobRequest,
  parseJsonJobRequest,
  parseJsonText,
  Presets,
  resolveRequestedSpec,
  RetryFailedJobsRequest,
  ValidationFailed,
} from '@pipeline/contracts';
import { JobsRepository, StoredJob } from '@pipeline/database';
import {
  checkSourceUrl,
  parseSourcePorts,
  SourcePorts,
} from '@pipeline/fetching';
import { ProducerConfig, TaskTurns } from '@pipeline/platform';
import {
  BlobStorage,
  ChecksumMismatchError,
  ImagesFolder,
  StorageKeys,
  verifyingSha256,
} from '@pipeline/storage';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { FastifyReply, FastifyRequest } from 'fastify';
import { createHash, randomUUID } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { describeApiError } from './api-exception.filter';
import { OutputsExpiredError } from './errors';
import { JobOperationsService } from './job-operations.service';
import { JobSubmissionService } from './job-submission.service';
import { OutputSizeCheck } from './output-size-check';
import { PRESETS } from './presets.controller';
import { correlationIdOf, CurrentActor } from './request-context';
import { UploadReader } from './upload-reader';

class ListJobsQuery {
  @IsOptional() @IsIn(JOB_STATUSES) status?: JobStatus;
  /** Only the jobs processing for longer than STUCK_AFTER_S. */
  @IsOptional()
  @Transform(({ value }) => value === 'true' || value === true)
  @IsBoolean()
  stuck?: boolean;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit = 50;
}

type BatchItemResult =
  | { id: string; status: 'queued' }
  | { error: { statusCode: number; message: string | string[] } };

/** The request's Idempotency-Key, if it sent one that can be used. */
function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(key)) {
    throw new ValidationFailed([
      'Idempotency-Key must be 1 to 200 visible ASCII characters',
    ]);
  }
  return key;
}

function digest(request: unknown): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

/**
 * A job is stuck when the sweeper found that nothing can move it
 * (`stuckReason`), or when it has been processing for longer than
 * `stuckAfterMs`: its worker most likely vanished.
 */
export function isStuck(
  job: Pick<StoredJob, 'status' | 'startedAt' | 'stuckReason'>,
  stuckAfterMs: number,
  now = Date.now(),
): boolean {
  if (job.stuckReason !== null) return true;
  return (
    job.status === 'processing' &&
    job.startedAt !== null &&
    now - Date.parse(job.startedAt) > stuckAfterMs
  );
}

/**
 * Jobs: a key with jobs:write submits, with jobs:read reads its own jobs back;
 * admin keys see and retry every job.
 */
@Controller('v1/jobs')
@UseGuards(ApiKeyGuard)
export class JobsController {
  constructor(
    private readonly submission: JobSubmissionService,
    private readonly operations: JobOperationsService,
    private readonly uploads: UploadReader,
    private readonly jobs: JobsRepository,
    private readonly images: ImagesFolder,
    private readonly storage: BlobStorage,
    @Inject(PRESETS) private readonly presets: Presets,
    private readonly config: ProducerConfig,
    private readonly keys: ApiKeysService,
    private readonly outputSizes: OutputSizeCheck,
  ) {
    this.sourcePorts = parseSourcePorts(config.SOURCE_URL_PORTS);
  }

  private readonly logger = new Logger('Api');
  private readonly sourcePorts: SourcePorts;
  /**
   * Batch items are validated one per event-loop turn, over every batch in
   * flight.
   */
  private readonly validationTurns = new TaskTurns();

  /**
   * Takes a job as multipart (an uploaded image) or JSON (a file in the images
   * folder); 202 once the broker has it. With an Idempotency-Key, a repeat of
   * the same request returns the first job.
   */
  @Post()
  @HttpCode(202)
  @RequireScopes('jobs:write')
  async submit(
    @CurrentCaller() caller: Caller,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ id: string; status: JobStatus }> {
    const id = randomUUID();
    const key = idempotencyKeyOf(request);
    await this.keys.admitJobs(caller, 1);
    let accepted: { id: string; repeated: boolean };
    if (request.isMultipart()) {
      const upload = await this.uploads.read(request, StorageKeys.upload(id));
      try {
        if (!upload.imageKey)
          throw new ValidationFailed([
            'image is required: send the image as a file part named image',
          ]);
        const { operations, output, preset, outputs } = upload.fields;
        const spec = resolveRequestedSpec(
          {
            operations:
              operations === undefined
                ? undefined
                : parseJsonText(operations, 'operations'),
            output:
              output === undefined
                ? undefined
                : parseJsonText(output, 'output'),
            preset,
            outputs:
              outputs === undefined
                ? undefined
                : parseJsonText(outputs, 'outputs'),
          },
          this.presets,
        );
        await this.checkImagePaths(spec);
        const source = { kind: 'upload' as const, key: upload.imageKey };
        await this.outputSizes.check(source, spec, {
          first: upload.imageStart ?? undefined,
        });
        const idempotency =
          key === undefined
            ? undefined
            : { key, requestHash: digest({ image: upload.imageDigest, spec }) };
        accepted = await this.submission.submit(
          id,
          caller.keyId,
          source,
          spec,
          idempotency,
          correlationIdOf(request),
          upload.imageBytes,
        );
        if (accepted.repeated) await this.storage.delete(upload.imageKey);
      } catch (error) {
        if (upload.imageKey) await this.storage.delete(upload.imageKey);
        throw error;
      }
    } else {
      accepted = await this.submitJson(
        caller,
        id,
        request.body,
        correlationIdOf(request),
        key,
      );
    }
    reply.header('Location', `/v1/jobs/${accepted.id}`);
    if (!accepted.repeated) return { id: accepted.id, status: 'queued' };
    return {
      id: accepted.id,
      status: (await this.find(caller, accepted.id)).status,
    };
  }

  /**
   * Several JSON jobs in one request, each validated and accepted on its own:
   * the answer lists, in order, the id of each accepted job or the error that
   * kept it out. The operations are counted before anything else, and the items
   * are validated one per event-loop turn, so that a big batch (or many at
   * once) does not hold up the producer's other requests.
   */
  @Post('batch')
  @HttpCode(200)
  @RequireScopes('jobs:write')
  async submitBatch(
    @CurrentCaller() caller: Caller,
    @Req() request: FastifyRequest,
  ): Promise<{ jobs: BatchItemResult[] }> {
    const body = request.body;
    if (!isPlainObject(body) || !Array.isArray(body.jobs))
      throw new ValidationFailed([
        'body must be {"jobs": [...]}, one JSON job per item',
      ]);
    const max = this.config.MAX_BATCH_JOBS;
    if (body.jobs.length === 0 || body.jobs.length > max)
      throw new ValidationFailed([
        `jobs must hold 1 to ${max} jobs (got ${body.jobs.length})`,
      ]);
    const operations = batchOperationCount(body.jobs);
    if (operations > this.config.MAX_BATCH_OPERATIONS) {
      throw new ValidationFailed([
        `the batch holds ${operations} operations (its jobs' and their outputs' together), more than MAX_BATCH_OPERATIONS (${this.config.MAX_BATCH_OPERATIONS}) allows in one request`,
      ]);
    }
    await this.keys.admitJobs(caller, body.jobs.length);
    const refused = (error: unknown): BatchItemResult => {
      const [statusCode, message] = describeApiError(error, this.logger);
      return { error: { statusCode, message } };
    };
    const jobs: Promise<BatchItemResult>[] = [];
    for (const item of body.jobs as unknown[]) {
      const id = randomUUID();
      const parsed = await this.validationTurns
        .run(() => this.parseJson(item))
        .then(
          (request) => ({ request }),
          (error: unknown) => ({ error }),
        );
      jobs.push(
        'error' in parsed
          ? Promise.resolve(refused(parsed.error))
          : this.acceptJson(
              caller,
              id,
              parsed.request,
              correlationIdOf(request),
            ).then((): BatchItemResult => ({ id, status: 'queued' }), refused),
      );
    }
    return { jobs: await Promise.all(jobs) };
  }

  private parseJson(body: unknown): JsonJobRequest {
    return parseJsonJobRequest(body, (fields) =>
      resolveRequestedSpec(fields, this.presets),
    );
  }

  private submitJson(
    caller: Caller,
    id: string,
    body: unknown,
    correlationId: string,
    key?: string,
  ): Promise<{ id: string; repeated: boolean }> {
    return this.acceptJson(
      caller,
      id,
      this.parseJson(body),
      correlationId,
      key,
    );
  }

  private async acceptJson(
    caller: Caller,
    id: string,
    request: JsonJobRequest,
    correlationId: string,
    key?: string,
  ): Promise<{ id: string; repeated: boolean }> {
    const { source, ...spec } = request;
    const { source: jobSource, inputPath } = await this.checkSource(source);
    await this.checkImagePaths(spec);
    await this.outputSizes.check(jobSource, spec, { path: inputPath });
    const idempotency =
      key === undefined
        ? undefined
        : { key, requestHash: digest({ source: jobSource, spec }) };
    return this.submission.submit(
      id,
      caller.keyId,
      jobSource,
      spec,
      idempotency,
      correlationId,
    );
  }

  /**
   * A folder path must name a file there (its resolved path is returned); a URL
   * must be one workers may try, on an allowed port (where it leads, they check
   * when they connect).
   */
  private async checkSource(
    source: JsonJobRequest['source'],
  ): Promise<{ source: JobSource; inputPath?: string }> {
    if ('path' in source)
      return {
        source: { kind: 'images', path: source.path },
        inputPath: await this.images.resolve(source.path),
      };
    const checked = checkSourceUrl(source.url, this.sourcePorts);
    if ('problem' in checked)
      throw new ValidationFailed([
        `source.url is not allowed: ${checked.problem}`,
      ]);
    return { source: { kind: 'url', url: checked.url.href } };
  }

  /**
   * Runs a failed job again, as its next attempt; 409 for a job that has not
   * failed.
   */
  @Post(':id/retry')
  @HttpCode(202)
  @RequireScopes('admin')
  async retry(
    @Param('id', new ParseUUIDPipe()) id: string,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ id: string; status: JobStatus; attempt: number }> {
    const { attempt } = await this.operations.retry(id, actor);
    reply.header('Location', `/v1/jobs/${id}`);
    return { id, status: 'queued', attempt };
  }

  /**
   * Runs failed jobs again (admin), oldest first: `code` picks which; the
   * cancelled ones only when asked for by code.
   */
  @Post('retry-failed')
  @HttpCode(200)
  @RequireScopes('admin')
  retryFailed(
    @Body() request: RetryFailedJobsRequest,
    @CurrentActor() actor: Actor,
  ): Promise<BulkRetryReport> {
    return this.operations.retryFailed(request, actor);
  }

  /**
   * Cancels a queued or processing job of the caller's (an admin's: any job):
   * it fails with CANCELLED at once; 409 for a finished job.
   */
  @Post(':id/cancel')
  @HttpCode(200)
  @RequireScopes('jobs:write')
  async cancel(
    @CurrentCaller() caller: Caller,
    @CurrentActor() actor: Actor,
    @Param('id', new ParseUUIDPipe()) id: string,
  ): Promise<JobView> {
    if (!(await this.jobs.cancel(id, jobOwnerFilter(caller), actor)))
      throw new NotFoundException(`job ${id} does not exist`);
    return this.toView(await this.find(caller, id));
  }

  /** The caller's jobs (an admin's: every job), newest first. */
  @Get()
  @RequireScopes('jobs:read')
  async list(
    @CurrentCaller() caller: Caller,
    @Query() query: ListJobsQuery,
  ): Promise<JobView[]> {
    const stuckBefore = query.stuck
      ? new Date(Date.now() - this.config.STUCK_AFTER_S * 1000)
      : undefined;
    return (
      await this.jobs.list({
        status: query.status,
        limit: query.limit,
        stuckBefore,
        ownedBy: jobOwnerFilter(caller),
      })
    ).map((job) => this.toView(job));
  }

  @Get(':id')
  @RequireScopes('jobs:read')
  async get(
    @CurrentCaller() caller: Caller,
    @Param('id', new ParseUUIDPipe()) id: string,
  ): Promise<JobView> {
    return this.toView(await this.find(caller, id));
  }

  /**
   * The job's timeline: queued, each delivery's start, retries, the outcome,
   * operators' steps.
   */
  @Get(':id/events')
  @RequireScopes('jobs:read')
  async events(
    @CurrentCaller() caller: Caller,
    @Param('id', new ParseUUIDPipe()) id: string,
  ): Promise<JobEventView[]> {
    await this.find(caller, id);
    return this.jobs.timeline(id);
  }

  /** The job's first (for most jobs its only) output. */
  @Get(':id/result')
  @RequireScopes('jobs:read')
  async result(
    @CurrentCaller() caller: Caller,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.download(await this.finished(caller, id), undefined, reply);
  }

  /**
   * One output by name: a variant's, or `default` for a job with one output.
   */
  @Get(':id/result/:name')
  @RequireScopes('jobs:read')
  async namedResult(
    @CurrentCaller() caller: Caller,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Param('name') name: string,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.download(await this.finished(caller, id), name, reply);
  }

  /**
   * A succeeded job whose outputs are still kept: 409 before, 410 once the
   * retention sweep removed them.
   */
  private async finished(caller: Caller, id: string): Promise<StoredJob> {
    const job = await this.find(caller, id);
    if (job.status !== 'succeeded') {
      throw new ConflictException(
        job.status === 'failed'
          ? `job ${id} failed: ${job.error?.message}`
          : `job ${id} is ${job.status}; its result is not ready`,
      );
    }
    if (job.outputsExpiredAt !== null)
      throw new OutputsExpiredError(id, job.outputsExpiredAt);
    return job;
  }

  /**
   * Streams the output, checked against the checksum recorded for it: an object
   * whose size or stored checksum already differ is refused before anything is
   * sent; bytes that differ are found at their end, and the answer is then
   * broken off rather than completed. With RESULT_DELIVERY=redirect, answers
   * 302 to a short-lived presigned URL of the object instead. It answers itself
   * (a redirect's status is its own); an error before the answer goes to the
   * exception filter as usual.
   */
  private async download(
    job: StoredJob,
    name: string | undefined,
    reply: FastifyReply,
  ): Promise<void> {
    const output =
      name === undefined
        ? job.outputs[0]
        : job.outputs.find((candidate) => candidate.name === name);
    if (!output)
      throw new NotFoundException(
        `job ${job.id} has no output named ${JSON.stringify(name)} (its outputs: ${job.outputs.map((o) => o.name).join(', ')})`,
      );
    const extension = output.format === 'jpeg' ? 'jpg' : output.format;
    const filename =
      job.outputs.length > 1
        ? `${job.id}-${output.name}.${extension}`
        : `${job.id}.${extension}`;
    const type = CONTENT_TYPES[output.format];
    const disposition = `inline; filename="${filename}"`;
    if (this.config.RESULT_DELIVERY === 'redirect') {
      const url = await this.storage.downloadUrl(output.key, {
        expiresInSeconds: this.config.RESULT_URL_EXPIRES_S,
        contentType: type,
        contentDisposition: disposition,
      });
      if (url !== null) {
        void reply
          .header('Cache-Control', 'private, no-store')
          .redirect(url, 302);
        return;
      }
    }
    const { stream, sizeBytes, sha256 } = await this.storage.openReadStream(
      output.key,
    );
    const send = (body: Readable) =>
      void reply
        .status(200)
        .type(type)
        .header('Content-Length', sizeBytes)
        .header('Content-Disposition', disposition)
        .send(body);
    if (output.sha256 === undefined) return send(stream);
    if (
      sizeBytes !== output.sizeBytes ||
      (sha256 !== null && sha256 !== output.sha256)
    ) {
      stream.destroy();
      throw new ChecksumMismatchError(
        output.key,
        output.sha256,
        sha256 ??
          `unknown, ${sizeBytes} bytes where ${output.sizeBytes} were recorded`,
      );
    }
    const verified = pipeline(
      stream,
      verifyingSha256(output.key, output.sha256),
      (error) => {
        // A client that went away is not worth a line; damaged bytes are.
        if (error && error.code !== 'ERR_STREAM_PREMATURE_CLOSE')
          this.logger.error({
            msg: 'result broken off',
            jobId: job.id,
            output: output.name,
            error: error.message,
          });
      },
    );
    return send(verified);
  }

  private toView(job: StoredJob): JobView {
    return {
      ...job,
      stuck: isStuck(job, this.config.STUCK_AFTER_S * 1000),
      outputs: job.outputs.map(
        ({ key: _key, sha256: _sha256, ...output }) => output,
      ),
    };
  }

  /**
   * Files an operation names (a watermark image) must be in the images folder
   * too: 400 now, not a failed job later.
   */
  private async checkImagePaths(spec: JobSpec): Promise<void> {
    const lists = [
      { path: 'operations', operations: spec.operations },
      ...(spec.variants ?? []).map((variant, index) => ({
        path: `outputs[${index}].operations`,
        operations: variant.operations,
      })),
    ];
    for (const { path, operations } of lists) {
      for (const [index, operation] of operations.entries()) {
        if (operation.op === 'watermark' && operation.image !== undefined)
          await this.images.resolve(operation.image, `${path}[${index}].image`);
      }
    }
  }

  /**
   * The job, if the caller may see it: another key's job is answered as if it
   * did not exist.
   */
  private async find(caller: Caller, id: string): Promise<StoredJob> {
    const job = await this.jobs.findById(id, jobOwnerFilter(caller));
    if (!job) throw new NotFoundException(`job ${id} does not exist`);
    return job;
  }
}
