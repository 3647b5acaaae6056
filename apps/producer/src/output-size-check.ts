import { Injectable } from '@nestjs/common';
import { JobSource, JobSpec, ValidationFailed } from '@pipeline/contracts';
import { checkOutputSize, jobOperationLists, OutputTooLargeError, readSupportedImageHeader, uprightSize } from '@pipeline/imaging';
import { ProducerConfig } from '@pipeline/platform';
import { BlobStorage, ImagesFolder } from '@pipeline/storage';

/**
 * Refuses, when it is submitted, a job whose operations would make an image over
 * MAX_OUTPUT_PIXELS, wherever the input's size can be known now: an upload (stored by then) or
 * a file in the images folder, from its header. A URL source, or an input whose header cannot be
 * read here, is judged by the worker before it decodes anything.
 */
@Injectable()
export class OutputSizeCheck {
  constructor(
    private readonly storage: BlobStorage,
    private readonly images: ImagesFolder,
    private readonly config: ProducerConfig,
  ) {}

  /** `inputPath`: the folder file's path, when the caller has resolved it already. */
  async check(source: JobSource, spec: JobSpec, inputPath?: string): Promise<void> {
    const input = inputPath ?? (await this.inputOf(source));
    const header = input === null ? null : await readSupportedImageHeader(input);
    if (!header) return;
    try {
      checkOutputSize({ ...uprightSize(header), exact: true }, jobOperationLists(spec.operations, spec.variants), this.config.MAX_OUTPUT_PIXELS);
    } catch (error) {
      if (error instanceof OutputTooLargeError) throw new ValidationFailed([error.message]);
      throw error;
    }
  }

  private async inputOf(source: JobSource): Promise<Buffer | string | null> {
    switch (source.kind) {
      case 'upload':
        return this.storage.localPath(source.key) ?? (await this.storage.read(source.key));
      case 'images':
        return this.images.resolve(source.path);
      case 'url':
        return null;
    }
  }
}
