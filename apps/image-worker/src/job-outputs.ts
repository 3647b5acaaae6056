import { Injectable } from '@nestjs/common';
import {
  DEFAULT_OUTPUT_NAME,
  ImageJobMessage,
  OUTPUT_FORMATS,
  OutputFormat,
  StoredOutput,
} from '@pipeline/contracts';
import {
  detectImageFormat,
  imageDimensions,
  ProcessedImage,
} from '@pipeline/imaging';
import { BlobStorage, sha256Hex, StorageKeys } from '@pipeline/storage';

/** An output the job asks for, and where this attempt stores it. */
export interface PlannedOutput {
  name: string;
  key: string;
  format: OutputFormat | undefined;
}

/** The outputs a job asks for, each under its key for this attempt. */
export function plannedOutputs(job: ImageJobMessage): PlannedOutput[] {
  const outputs = job.variants
    ? job.variants.map((variant) => ({
        name: variant.name,
        format: variant.output.format,
      }))
    : [{ name: DEFAULT_OUTPUT_NAME, format: job.output.format }];
  return outputs.map((output) => ({
    ...output,
    key: StorageKeys.output(job.jobId, job.attempt, output.name),
  }));
}

/**
 * Outputs are stored create-if-absent under keys of the attempt: an output
 * another delivery of the attempt stored first stands, and what is reported
 * describes the stored object, never the bytes this delivery made (a URL
 * source may have changed meanwhile), so what is recorded is what is served.
 */
@Injectable()
export class JobOutputs {
  constructor(private readonly storage: BlobStorage) {}

  /** Stores each image under its planned output's key. */
  async store(
    planned: PlannedOutput[],
    images: Array<ProcessedImage & { name: string }>,
  ): Promise<StoredOutput[]> {
    const outputs: StoredOutput[] = [];
    for (const [index, image] of images.entries()) {
      const { key } = planned[index];
      const sha256 = sha256Hex(image.data);
      const { created, sizeBytes } = await this.storage.putIfAbsent(
        key,
        image.data,
        { sha256 },
      );
      const { name, format, width, height } = image;
      outputs.push(
        created
          ? { name, key, format, width, height, sizeBytes, sha256 }
          : await this.storedOutput(planned[index]),
      );
    }
    return outputs;
  }

  /**
   * The outputs of an earlier delivery that stored them all but did not get
   * to ack; null if any is missing.
   */
  async alreadyStored(
    planned: PlannedOutput[],
  ): Promise<StoredOutput[] | null> {
    const outputs: StoredOutput[] = [];
    for (const output of planned) {
      if ((await this.storage.sizeOf(output.key)) === null) return null;
      outputs.push(await this.storedOutput(output));
    }
    return outputs;
  }

  /**
   * An output as stored: its size, dimensions, format and checksum read from
   * the stored bytes.
   */
  private async storedOutput({
    name,
    key,
    format,
  }: PlannedOutput): Promise<StoredOutput> {
    const data = await this.storage.read(key);
    const { width, height } = await imageDimensions(data);
    const detected = detectImageFormat(data);
    const storedFormat = (OUTPUT_FORMATS as readonly string[]).includes(
      detected ?? '',
    )
      ? (detected as OutputFormat)
      : format;
    if (!storedFormat)
      throw new Error(
        `The object stored at ${key} is not an image in an output format`,
      );
    return {
      name,
      key,
      format: storedFormat,
      width,
      height,
      sizeBytes: data.length,
      sha256: sha256Hex(data),
    };
  }
}
