import { Injectable } from '@nestjs/common';
import { JobSource, JobSpec, ValidationFailed } from '@pipeline/contracts';
import {
  checkOutputSize,
  FirstBytes,
  HEADER_BYTES,
  jobOperationLists,
  OutputTooLargeError,
  readSupportedImageHeader,
  uprightSize,
} from '@pipeline/imaging';
import { ProducerConfig } from '@pipeline/platform';
import { BlobStorage, ImagesFolder } from '@pipeline/storage';

/**
 * Refuses, when it is submitted, a job whose operations would make an image
 * over MAX_OUTPUT_PIXELS, wherever the input's size can be known now: an upload
 * (stored by then) or a file in the images folder, from its header. A URL
 * source, or an input whose header cannot be read here, is judged by the worker
 * before it decodes anything.
 */
@Injectable()
export class OutputSizeCheck {
  constructor(
    private readonly storage: BlobStorage,
    private readonly images: ImagesFolder,
    private readonly config: ProducerConfig,
  ) {}

  /**
   * `known.path`: the folder file's path, when the caller has resolved it
   * already; `known.first`: the input's first bytes, when the caller has them
   * (an upload's, as it was stored).
   */
  async check(
    source: JobSource,
    spec: JobSpec,
    known: { path?: string; first?: FirstBytes } = {},
  ): Promise<void> {
    const input = known.path ?? (await this.inputOf(source, known.first));
    const header =
      input === null
        ? null
        : await readSupportedImageHeader(input, known.first);
    if (!header) return;
    try {
      checkOutputSize(
        { ...uprightSize(header), exact: true },
        jobOperationLists(spec.operations, spec.variants),
        this.config.MAX_OUTPUT_PIXELS,
      );
    } catch (error) {
      if (error instanceof OutputTooLargeError)
        throw new ValidationFailed([error.message]);
      throw error;
    }
  }

  /**
   * An upload in an object store is never fetched whole here: its first bytes
   * stand for it (a header they do not hold is judged by the worker).
   */
  private async inputOf(
    source: JobSource,
    first: FirstBytes | undefined,
  ): Promise<Buffer | string | null> {
    switch (source.kind) {
      case 'upload': {
        const local = this.storage.localPath(source.key);
        if (local !== null) return local;
        if (first) return first.head;
        const { stream } = await this.storage.openReadStream(source.key, {
          start: 0,
          end: HEADER_BYTES - 1,
        });
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      }
      case 'images':
        return this.images.resolve(source.path);
      case 'url':
        return null;
    }
  }
}
