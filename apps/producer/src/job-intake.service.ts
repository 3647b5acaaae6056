import { Inject, Injectable } from '@nestjs/common';
import { ApiKeysService, Caller } from '@pipeline/auth';
import {
  canonicalJson,
  JobStatus,
  JsonJobRequest,
  parseJsonJobRequest,
  parseJsonText,
  Presets,
  RequestedSpecFields,
  resolveRequestedSpec,
  ValidationFailed,
} from '@pipeline/contracts';
import { BlobStorage, StorageKeys } from '@pipeline/storage';
import { FastifyRequest } from 'fastify';
import { createHash, randomUUID } from 'node:crypto';
import { JobInputCheck } from './job-input-check';
import { JobQueryService } from './job-query.service';
import { JobSubmissionService } from './job-submission.service';
import { OutputSizeCheck } from './output-size-check';
import { PRESETS } from './presets.controller';
import { Upload, UploadReader } from './upload-reader';

/** What taking jobs needs of the API keys: their limits and quotas. */
export type JobAdmission = Pick<ApiKeysService, 'admitJobs'>;

/** Who submits a job, and how their request is known. */
export interface Submitter {
  caller: Caller;
  /** Repeats of the request under this key return the first job. */
  idempotencyKey?: string;
  correlationId: string;
}

/** A job taken: its id, and its status now (a repeat's may have moved on). */
export interface AcceptedJob {
  id: string;
  status: JobStatus;
}

/**
 * Turns a request into an accepted job: an uploaded image (multipart) or a
 * JSON job naming a file in the images folder or a URL. Everything a job
 * names is checked before it is accepted. With an Idempotency-Key, a repeat of
 * the same request returns the first job.
 */
@Injectable()
export class JobIntakeService {
  constructor(
    private readonly submission: JobSubmissionService,
    private readonly query: JobQueryService,
    private readonly inputs: JobInputCheck,
    @Inject(OutputSizeCheck)
    private readonly outputSizes: Pick<OutputSizeCheck, 'check'>,
    @Inject(UploadReader) private readonly uploads: Pick<UploadReader, 'read'>,
    @Inject(BlobStorage) private readonly storage: Pick<BlobStorage, 'delete'>,
    @Inject(ApiKeysService) private readonly keys: JobAdmission,
    @Inject(PRESETS) private readonly presets: Presets,
  ) {}

  /**
   * Takes an uploaded image and what to make of it; the stored upload is
   * removed again unless it became the input of a new job.
   */
  async submitUpload(
    by: Submitter,
    request: FastifyRequest,
  ): Promise<AcceptedJob> {
    await this.keys.admitJobs(by.caller, 1);
    const id = randomUUID();
    const upload = await this.uploads.read(request, StorageKeys.upload(id));
    let accepted: { id: string; repeated: boolean };
    try {
      accepted = await this.acceptUpload(by, id, upload);
      if (accepted.repeated) await this.storage.delete(upload.imageKey!);
    } catch (error) {
      if (upload.imageKey) await this.storage.delete(upload.imageKey);
      throw error;
    }
    return this.answer(by.caller, accepted);
  }

  private async acceptUpload(
    by: Submitter,
    id: string,
    upload: Upload,
  ): Promise<{ id: string; repeated: boolean }> {
    if (!upload.imageKey)
      throw new ValidationFailed([
        'image is required: send the image as a file part named image',
      ]);
    const spec = resolveRequestedSpec(specFieldsOf(upload), this.presets);
    await this.inputs.imagePaths(spec);
    const source = { kind: 'upload' as const, key: upload.imageKey };
    await this.outputSizes.check(source, spec, {
      first: upload.imageStart ?? undefined,
    });
    return this.submission.submit(
      id,
      by.caller.keyId,
      source,
      spec,
      idempotencyOf(by.idempotencyKey, { image: upload.imageDigest, spec }),
      by.correlationId,
      upload.imageBytes,
    );
  }

  /** Takes a JSON job: `body` as the client sent it. */
  async submitJson(by: Submitter, body: unknown): Promise<AcceptedJob> {
    await this.keys.admitJobs(by.caller, 1);
    const request = this.parse(body);
    const accepted = await this.accept(by, randomUUID(), request);
    return this.answer(by.caller, accepted);
  }

  /** A JSON job's request, its preset resolved; 400 for one that is not. */
  parse(body: unknown): JsonJobRequest {
    return parseJsonJobRequest(body, (fields) =>
      resolveRequestedSpec(fields, this.presets),
    );
  }

  /** Checks what a parsed JSON job names, then accepts it as job `id`. */
  async accept(
    by: Submitter,
    id: string,
    request: JsonJobRequest,
  ): Promise<{ id: string; repeated: boolean }> {
    const { source, ...spec } = request;
    const { source: jobSource, inputPath } = await this.inputs.source(source);
    await this.inputs.imagePaths(spec);
    await this.outputSizes.check(jobSource, spec, { path: inputPath });
    return this.submission.submit(
      id,
      by.caller.keyId,
      jobSource,
      spec,
      idempotencyOf(by.idempotencyKey, { source: jobSource, spec }),
      by.correlationId,
    );
  }

  private async answer(
    caller: Caller,
    accepted: { id: string; repeated: boolean },
  ): Promise<AcceptedJob> {
    if (!accepted.repeated) return { id: accepted.id, status: 'queued' };
    return {
      id: accepted.id,
      status: (await this.query.find(caller, accepted.id)).status,
    };
  }
}

/** A multipart request's fields that say what to make, parsed as JSON. */
function specFieldsOf(upload: Upload): RequestedSpecFields {
  const { operations, output, preset, outputs } = upload.fields;
  const json = (text: string | undefined, name: string): unknown =>
    text === undefined ? undefined : parseJsonText(text, name);
  return {
    operations: json(operations, 'operations'),
    output: json(output, 'output'),
    preset,
    outputs: json(outputs, 'outputs'),
  };
}

/**
 * A request under an Idempotency-Key is known again by the digest of what it
 * asked for.
 */
function idempotencyOf(
  key: string | undefined,
  request: unknown,
): { key: string; requestHash: string } | undefined {
  if (key === undefined) return undefined;
  const requestHash = createHash('sha256')
    .update(canonicalJson(request))
    .digest('hex');
  return { key, requestHash };
}
