import { Injectable } from '@nestjs/common';
import { ImageJobMessage } from '@pipeline/contracts';
import { UrlFetcher } from '@pipeline/fetching';
import { Deadline } from '@pipeline/imaging';
import { BlobStorage, ImagesFolder } from '@pipeline/storage';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** A job's input, and what to do once it is no longer needed. */
export interface OpenedInput {
  input: Buffer | string;
  release: () => Promise<void>;
}

const kept = (): Promise<void> => Promise.resolve();

/**
 * The job's input, as a path where there is one (libvips then reads the file
 * itself, off the event loop); a URL source, or an upload in an object store,
 * is first streamed to a temporary file (never held whole in memory), removed
 * by `release`.
 */
@Injectable()
export class JobInputs {
  constructor(
    private readonly storage: BlobStorage,
    private readonly images: ImagesFolder,
    private readonly fetcher: UrlFetcher,
  ) {}

  async open(job: ImageJobMessage, deadline: Deadline): Promise<OpenedInput> {
    switch (job.source.kind) {
      case 'images':
        return {
          input: await this.images.resolve(job.source.path),
          release: kept,
        };
      case 'upload': {
        const local = this.storage.localPath(job.source.key);
        if (local !== null) return { input: local, release: kept };
        return this.copyUpload(job.jobId, job.source.key, deadline);
      }
      case 'url':
        return this.download(job.jobId, job.source.url, deadline);
    }
  }

  private async copyUpload(
    jobId: string,
    key: string,
    deadline: Deadline,
  ): Promise<OpenedInput> {
    const path = join(tmpdir(), `image-upload-${jobId}-${randomUUID()}`);
    const release = () => rm(path, { force: true });
    try {
      const { stream } = await this.storage.openReadStream(key);
      await pipeline(stream, createWriteStream(path), {
        signal: AbortSignal.timeout(
          Math.max(1, Math.ceil(deadline.remainingMs())),
        ),
      });
    } catch (error) {
      await release();
      if (deadline.expired) throw deadline.timeoutError('reading the upload');
      throw error;
    }
    return { input: path, release };
  }

  private async download(
    jobId: string,
    url: string,
    deadline: Deadline,
  ): Promise<OpenedInput> {
    const path = join(tmpdir(), `image-source-${jobId}-${randomUUID()}`);
    deadline.check('downloading the source');
    try {
      await this.fetcher.download(url, path, {
        timeoutMs: deadline.remainingMs(),
      });
    } catch (error) {
      // Cut short by the job's deadline rather than by the fetcher's own
      // limit: the job is out of time.
      if (deadline.expired)
        throw deadline.timeoutError('downloading the source');
      throw error;
    }
    return { input: path, release: () => rm(path, { force: true }) };
  }
}
