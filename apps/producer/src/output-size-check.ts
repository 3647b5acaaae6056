import { Injectable } from '@nestjs/common';
import { JobSource, JobSpec, ValidationFailed } from '@pipeline/contracts';
import { checkOutputSize, FirstBytes, jobOperationLists, OutputTooLargeError, readSupportedImageHeader, uprightSize } from '@pipeline/imaging';
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

  /**
   * `known.path`: the folder file's path, when the caller has resolved it already;
   * `known.first`: the input's first bytes, when the caller has them (an upload's, as it was stored).
   */
  async check(source: JobSource, spec: JobSpec, known: { path?: string; first?: FirstBytes } = {}): Promise<void> {
    const input = known.path ?? (await this.inputOf(source));
    const header = input === null ? null : await readSupportedImageHeader(input, known.first);
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
