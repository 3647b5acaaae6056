import { Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { Caller } from '@pipeline/auth';
import { CONTENT_TYPES } from '@pipeline/contracts';
import { StoredJob } from '@pipeline/database';
import { ProducerConfig } from '@pipeline/platform';
import {
  BlobStorage,
  ChecksumMismatchError,
  verifyingSha256,
} from '@pipeline/storage';
import { pipeline, Readable } from 'node:stream';
import { JobQueryService } from './job-query.service';

/** What serving outputs needs of the storage. */
export type OutputReads = Pick<BlobStorage, 'downloadUrl' | 'openReadStream'>;

/** How an output goes to the client: its bytes, or a redirect to them. */
export type ResultAnswer =
  | { redirect: string }
  | {
      body: Readable;
      contentType: string;
      sizeBytes: number;
      disposition: string;
    };

/** A job's outputs, for the client that submitted it. */
@Injectable()
export class JobResultService {
  private readonly logger = new Logger('Api');

  constructor(
    private readonly query: JobQueryService,
    @Inject(BlobStorage) private readonly storage: OutputReads,
    @Inject(ProducerConfig)
    private readonly config: Pick<
      ProducerConfig,
      'RESULT_DELIVERY' | 'RESULT_URL_EXPIRES_S'
    >,
  ) {}

  /**
   * The output `name` (without it, the job's first) of a finished job, checked
   * against the checksum recorded for it: an object whose size or stored
   * checksum already differ is refused before anything is sent; bytes that
   * differ are found at their end, and the answer is then broken off rather
   * than completed. With RESULT_DELIVERY=redirect, a short-lived presigned URL
   * of the object instead.
   */
  async open(caller: Caller, id: string, name?: string): Promise<ResultAnswer> {
    const job = await this.query.finished(caller, id);
    const output = outputOf(job, name);
    const extension = output.format === 'jpeg' ? 'jpg' : output.format;
    const filename =
      job.outputs.length > 1
        ? `${job.id}-${output.name}.${extension}`
        : `${job.id}.${extension}`;
    const contentType = CONTENT_TYPES[output.format];
    const disposition = `inline; filename="${filename}"`;
    if (this.config.RESULT_DELIVERY === 'redirect') {
      const url = await this.storage.downloadUrl(output.key, {
        expiresInSeconds: this.config.RESULT_URL_EXPIRES_S,
        contentType,
        contentDisposition: disposition,
      });
      if (url !== null) return { redirect: url };
    }
    const { stream, sizeBytes, sha256 } = await this.storage.openReadStream(
      output.key,
    );
    const answer = { contentType, sizeBytes, disposition };
    if (output.sha256 === undefined) return { ...answer, body: stream };
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
    const body = this.verified(job.id, output, output.sha256, stream);
    return { ...answer, body };
  }

  /** The stream, broken off at its end if its bytes are not `sha256`'s. */
  private verified(
    jobId: string,
    output: StoredJob['outputs'][number],
    sha256: string,
    stream: Readable,
  ): Readable {
    return pipeline(stream, verifyingSha256(output.key, sha256), (error) => {
      // A client that went away is not worth a line; damaged bytes are.
      if (error && error.code !== 'ERR_STREAM_PREMATURE_CLOSE')
        this.logger.error({
          msg: 'result broken off',
          jobId,
          output: output.name,
          error: error.message,
        });
    });
  }
}

/** The output `name` of the job; without a name, its first. */
export function outputOf(
  job: StoredJob,
  name: string | undefined,
): StoredJob['outputs'][number] {
  const output =
    name === undefined
      ? job.outputs[0]
      : job.outputs.find((candidate) => candidate.name === name);
  if (!output)
    throw new NotFoundException(
      `job ${job.id} has no output named ${JSON.stringify(name)} (its outputs: ${job.outputs.map((o) => o.name).join(', ')})`,
    );
  return output;
}
