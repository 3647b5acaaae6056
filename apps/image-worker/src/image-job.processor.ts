import { Injectable } from '@nestjs/common';
import { DEFAULT_OUTPUT_NAME, ImageJobMessage } from '@pipeline/contracts';
import { failpoint } from '@pipeline/failpoints';
import {
  Deadline,
  ProcessingLimits,
  processImage,
  processVariants,
} from '@pipeline/imaging';
import { WorkerConfig } from '@pipeline/platform';
import { ImagesFolder } from '@pipeline/storage';
import { classifyJobError } from './classify-job-error';
import { Outcome } from './job-event-publisher';
import { JobInputs } from './job-input';
import { JobOutputs, plannedOutputs } from './job-outputs';

/**
 * Makes and stores a job's outputs. A failure no retry will fix is the job's
 * outcome; any other is thrown, for the job to be tried again.
 */
@Injectable()
export class ImageJobProcessor {
  constructor(
    private readonly inputs: JobInputs,
    private readonly outputs: JobOutputs,
    private readonly images: ImagesFolder,
    private readonly config: WorkerConfig,
  ) {}

  /**
   * `mayBeStored`: an earlier delivery may have stored the outputs already
   * (and then died before acking); if it stored them all, they are the
   * outcome and the job is not redone.
   */
  async process(
    job: ImageJobMessage,
    mayBeStored: boolean,
    deadline: Deadline,
  ): Promise<Outcome> {
    const planned = plannedOutputs(job);
    try {
      const done = mayBeStored
        ? await this.outputs.alreadyStored(planned)
        : null;
      if (done) return { type: 'succeeded', outputs: done };
      const images = await this.makeImages(job, deadline);
      const outputs = await this.outputs.store(planned, images);
      await failpoint('worker.after-output-stored');
      return { type: 'succeeded', outputs };
    } catch (error) {
      const classified = classifyJobError(error);
      if (!classified.permanent) throw error;
      return { type: 'failed', error: classified.error };
    }
  }

  private async makeImages(job: ImageJobMessage, deadline: Deadline) {
    const { input, release } = await this.inputs.open(job, deadline);
    const limits: ProcessingLimits = {
      maxInputPixels: this.config.MAX_INPUT_PIXELS,
      maxInputFrames: this.config.MAX_INPUT_FRAMES,
      maxOutputPixels: this.config.MAX_OUTPUT_PIXELS,
      deadline,
      resolveWatermarkImage: (path: string) =>
        this.images.resolve(path, 'watermark image'),
    };
    return (
      job.variants
        ? processVariants(input, job.operations, job.variants, limits)
        : processImage(input, job.operations, job.output, limits).then(
            (image) => [{ name: DEFAULT_OUTPUT_NAME, ...image }],
          )
    ).finally(release);
  }
}
