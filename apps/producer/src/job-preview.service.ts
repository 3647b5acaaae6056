import {
  GoneException,
  Inject,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { Caller } from '@pipeline/auth';
import { JobSource } from '@pipeline/contracts';
import { JobsRepository } from '@pipeline/database';
import { makePreview, Preview, PreviewRefusedError } from '@pipeline/imaging';
import { ProducerConfig } from '@pipeline/platform';
import { BlobStorage, ImagesFolder } from '@pipeline/storage';
import { readFile } from 'node:fs/promises';
import { JobQueryService } from './job-query.service';
import { outputOf } from './job-result.service';

/**
 * Thumbnails of a job's outputs and of its stored input, for the job browser:
 * never the full-size bytes. The same access rules as the outputs (the key
 * that submitted the job, or an admin).
 */
@Injectable()
export class JobPreviewService {
  constructor(
    private readonly query: JobQueryService,
    @Inject(JobsRepository)
    private readonly jobs: Pick<JobsRepository, 'findRecorded'>,
    @Inject(BlobStorage) private readonly storage: Pick<BlobStorage, 'read'>,
    @Inject(ImagesFolder)
    private readonly images: Pick<ImagesFolder, 'resolve'>,
    @Inject(ProducerConfig)
    private readonly config: Pick<ProducerConfig, 'MAX_OUTPUT_PIXELS'>,
  ) {}

  /** A preview of a succeeded job's output `name` (409, 410 as its bytes). */
  async output(caller: Caller, id: string, name: string): Promise<Preview> {
    const job = await this.query.finished(caller, id);
    return this.preview(await this.storage.read(outputOf(job, name).key));
  }

  /**
   * A preview of the job's input: an upload while it is kept, or its file in
   * the images folder; a URL source is not stored (404).
   */
  async input(caller: Caller, id: string): Promise<Preview> {
    const job = await this.query.find(caller, id);
    if (job.inputExpiredAt !== null)
      throw new GoneException(
        `the uploaded input of job ${id} expired at ${job.inputExpiredAt} and was removed`,
      );
    const recorded = await this.jobs.findRecorded(id);
    if (!recorded) throw new NotFoundException(`job ${id} does not exist`);
    return this.preview(await this.inputBytes(id, recorded.source));
  }

  private async inputBytes(id: string, source: JobSource): Promise<Buffer> {
    if (source.kind === 'upload') return this.storage.read(source.key);
    if (source.kind === 'images') {
      const path = await this.images.resolve(source.path).catch(() => {
        throw new NotFoundException(
          `the input of job ${id}, ${source.path}, is no longer in the images folder`,
        );
      });
      return readFile(path);
    }
    throw new NotFoundException(
      `the input of job ${id} is a URL a worker downloads; it is not stored`,
    );
  }

  private async preview(bytes: Buffer): Promise<Preview> {
    try {
      return await makePreview(bytes, {
        maxInputPixels: this.config.MAX_OUTPUT_PIXELS,
      });
    } catch (error) {
      if (error instanceof PreviewRefusedError)
        throw new UnprocessableEntityException(`no preview: ${error.message}`);
      throw error;
    }
  }
}
