import { Inject, Injectable } from '@nestjs/common';
import {
  JobSource,
  JobSpec,
  JsonJobRequest,
  ValidationFailed,
} from '@pipeline/contracts';
import {
  checkSourceUrl,
  parseSourcePorts,
  SourcePorts,
} from '@pipeline/fetching';
import { ProducerConfig } from '@pipeline/platform';
import { ImagesFolder } from '@pipeline/storage';

/** What checking inputs needs of the images folder. */
export type ImagePaths = Pick<ImagesFolder, 'resolve'>;

/**
 * What a job reads must be there (a file in the images folder) or be one a
 * worker may fetch (a URL): 400 now, not a failed job later.
 */
@Injectable()
export class JobInputCheck {
  private readonly sourcePorts: SourcePorts;

  constructor(
    @Inject(ImagesFolder) private readonly images: ImagePaths,
    @Inject(ProducerConfig)
    config: Pick<ProducerConfig, 'SOURCE_URL_PORTS'>,
  ) {
    this.sourcePorts = parseSourcePorts(config.SOURCE_URL_PORTS);
  }

  /**
   * A folder path must name a file there (its resolved path is returned); a URL
   * must be one workers may try, on an allowed port (where it leads, they check
   * when they connect).
   */
  async source(
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

  /** Files an operation names (a watermark image) are in the folder too. */
  async imagePaths(spec: JobSpec): Promise<void> {
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
}
