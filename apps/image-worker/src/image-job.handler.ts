import { Controller, Logger } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import {
  attemptOfJobMessage,
  DEFAULT_OUTPUT_NAME,
  ImageJobMessage,
  JobErrorCode,
  JobEventMessage,
  JobEventType,
  jobEventId,
  MessageType,
  OUTPUT_FORMATS,
  OutputFormat,
  parseImageJobMessage,
  StoredOutput,
  ValidationFailed,
} from '@pipeline/contracts';
import {
  classifyProcessingError,
  Deadline,
  detectImageFormat,
  imageDimensions,
  processImage,
  processVariants,
} from '@pipeline/imaging';
import { UrlFetcher } from '@pipeline/fetching';
import {
  AmqpContext,
  MessagePublisher,
  OutcomeNotPublishedError,
  PermanentMessageError,
} from '@pipeline/messaging';
import { WorkerMetrics } from '@pipeline/metrics';
import { ConcurrencyLimit, WorkerConfig } from '@pipeline/platform';
import {
  BlobStorage,
  ImagesFolder,
  sha256Hex,
  StorageKeys,
} from '@pipeline/storage';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerActivity } from './worker-activity';
import { failpoint } from '@pipeline/failpoints';

type Outcome = Pick<JobEventMessage, 'outputs' | 'error' | 'startedAt'> & {
  type: Exclude<JobEventType, 'started'>;
};

/** An output the job asks for, and where this attempt stores it. */
interface PlannedOutput {
  name: string;
  key: string;
  format: OutputFormat | undefined;
}

/**
 * Runs one image job per message. The message is acked (by the transport) only
 * after the output is stored and the outcome event is confirmed by the broker;
 * a crash before that means redelivery, and a redelivered job whose output is
 * already stored is not redone.
 */
@Controller()
export class ImageJobHandler {
  private readonly logger = new Logger(ImageJobHandler.name);
  /**
   * The jobs processed at once; the other messages held wait here (see
   * WORKER_CONCURRENCY).
   */
  private readonly processing: ConcurrencyLimit;

  constructor(
    private readonly publisher: MessagePublisher,
    private readonly storage: BlobStorage,
    private readonly images: ImagesFolder,
    private readonly fetcher: UrlFetcher,
    private readonly activity: WorkerActivity,
    private readonly metrics: WorkerMetrics,
    private readonly config: WorkerConfig,
  ) {
    this.processing = new ConcurrencyLimit(config.WORKER_CONCURRENCY);
  }

  @EventPattern(MessageType.imageJob)
  async handle(
    @Payload() payload: unknown,
    @Ctx() context: AmqpContext,
  ): Promise<void> {
    this.activity.inFlight++;
    try {
      await this.handleJob(payload, context);
    } finally {
      this.activity.inFlight--;
    }
  }

  private async handleJob(
    payload: unknown,
    context: AmqpContext,
  ): Promise<void> {
    const job = await this.parse(payload, context);
    const delivery = context.deliveryNumber;
    let startedAt = '';
    let finishedAt = '';
    let began = 0;
    const seconds = () => (performance.now() - began) / 1000;
    let started: Promise<void> | undefined;
    let outcome: Outcome | undefined;
    let failure: unknown;
    // Publishing the outcome and settling the message happen outside the turn:
    // another job's image work goes on meanwhile.
    await this.processing.run(async () => {
      this.activity.processing++;
      try {
        startedAt = new Date().toISOString();
        began = performance.now();
        // JOB_TIMEOUT_S counts from here, for the whole job: download,
        // watermarks, every stage and variant.
        const deadline = Deadline.after(this.config.JOB_TIMEOUT_S * 1000);
        // Announce the start only if the job runs long enough for anyone to see
        // it processing; otherwise the outcome carries `startedAt` and the
        // writer records the start from it.
        const announce = setTimeout(() => {
          started = this.publishEvent(
            job,
            context,
            { type: 'started' },
            startedAt,
          );
          // Awaited below; if the work throws first, the message is redelivered
          // and this does not matter.
          started.catch(() => undefined);
        }, this.config.STARTED_EVENT_AFTER_MS);
        try {
          outcome = await this.run(
            job,
            context.message.fields.redelivered || delivery > 1,
            deadline,
          );
        } catch (error) {
          failure = error;
        } finally {
          clearTimeout(announce);
        }
        finishedAt = new Date().toISOString();
        // Until libvips has stopped what the deadline cut short (within a
        // second), no other job takes the turn.
        await deadline.settled();
      } finally {
        this.activity.processing--;
      }
    });
    // A start the broker did not take is not worth redoing the job for: the
    // outcome carries `startedAt`.
    if (started)
      await started.catch((error: Error) =>
        this.logger.warn({
          msg: 'started event not published',
          ...this.logFields(job, context),
          error: error.message,
        }),
      );
    if (!outcome)
      return this.triedTransiently(job, context, failure, startedAt, seconds());
    await this.publishEvent(
      job,
      context,
      { ...outcome, startedAt },
      finishedAt,
    );
    await failpoint('worker.after-outcome-published');
    if (outcome.type === 'succeeded') this.activity.jobsSucceeded++;
    else this.activity.jobsFailed++;
    this.logger[outcome.type === 'failed' ? 'warn' : 'log']({
      msg: `job ${outcome.type}`,
      ...this.logFields(job, context),
      durationMs: Math.round(seconds() * 1000),
      ...(outcome.error
        ? { code: outcome.error.code, error: outcome.error.message }
        : { outputs: outcome.outputs?.map((output) => output.name) }),
    });
    this.metrics.observeJob(
      this.operationsOf(job),
      seconds(),
      outcome.type,
      outcome.error?.code,
    );
  }

  /**
   * A transient failure (a download that timed out, a storage hiccup): the job
   * waits in a delay queue for its next try, which the timeline records; after
   * the last try it fails for good, with the reason and the number of tries,
   * and its message is parked.
   */
  private async triedTransiently(
    job: ImageJobMessage,
    context: AmqpContext,
    error: unknown,
    startedAt: string,
    seconds: number,
  ): Promise<never> {
    const { error: reason } = classifyProcessingError(error);
    this.metrics.observeJob(
      this.operationsOf(job),
      seconds,
      context.isLastTry ? 'failed' : 'retrying',
      reason.code,
    );
    if (context.isLastTry) {
      const message = `Gave up after ${context.tryNumber} ${context.tryNumber === 1 ? 'try' : 'tries'}: ${reason.message}`;
      this.logger.warn({
        msg: 'job failed',
        ...this.logFields(job, context),
        code: reason.code,
        error: message,
      });
      await this.publishEvent(job, context, {
        type: 'failed',
        error: { code: reason.code, message },
        startedAt,
      });
      this.activity.jobsFailed++;
      throw new PermanentMessageError(message);
    }
    this.logger.warn({
      msg: 'job will be retried',
      ...this.logFields(job, context),
      try: context.tryNumber,
      code: reason.code,
      error: reason.message,
    });
    await this.publishEvent(job, context, {
      type: 'retrying',
      error: reason,
      startedAt,
    });
    throw error;
  }

  private async parse(
    payload: unknown,
    context: AmqpContext,
  ): Promise<ImageJobMessage> {
    try {
      return parseImageJobMessage(payload);
    } catch (error) {
      if (!(error instanceof ValidationFailed)) throw error;
      // Fail the job, if the message says which one, so that it does not look
      // queued forever.
      const { jobId } = (payload ?? {}) as { jobId?: unknown };
      if (typeof jobId === 'string' && /^[0-9a-f-]{36}$/i.test(jobId)) {
        const job = {
          jobId,
          attempt: attemptOfJobMessage(payload),
        } as ImageJobMessage;
        await this.publishEvent(job, context, {
          type: 'failed',
          error: { code: JobErrorCode.invalidMessage, message: error.message },
        });
      }
      throw new PermanentMessageError(`invalid job message: ${error.message}`);
    }
  }

  /**
   * `redelivered`: an earlier delivery may have stored the outputs already (and
   * then died before acking). Outputs are stored create-if-absent under keys of
   * this attempt: an output another delivery of the attempt stored first
   * stands, and the outcome describes the stored object, never the bytes this
   * delivery made (a URL source may have changed meanwhile), so what is
   * recorded is what is served.
   */
  private async run(
    job: ImageJobMessage,
    redelivered: boolean,
    deadline: Deadline,
  ): Promise<Outcome> {
    const planned: PlannedOutput[] = (
      job.variants
        ? job.variants.map((variant) => ({
            name: variant.name,
            format: variant.output.format,
          }))
        : [{ name: DEFAULT_OUTPUT_NAME, format: job.output.format }]
    ).map((output) => ({
      ...output,
      key: StorageKeys.output(job.jobId, job.attempt, output.name),
    }));
    try {
      const done = redelivered ? await this.storedOutputs(planned) : null;
      if (done) return { type: 'succeeded', outputs: done };
      const { input, release } = await this.openInput(job, deadline);
      const limits = {
        maxInputPixels: this.config.MAX_INPUT_PIXELS,
        maxInputFrames: this.config.MAX_INPUT_FRAMES,
        maxOutputPixels: this.config.MAX_OUTPUT_PIXELS,
        deadline,
        resolveWatermarkImage: (path: string) =>
          this.images.resolve(path, 'watermark image'),
      };
      const images = await (
        job.variants
          ? processVariants(input, job.operations, job.variants, limits)
          : processImage(input, job.operations, job.output, limits).then(
              (image) => [{ name: DEFAULT_OUTPUT_NAME, ...image }],
            )
      ).finally(release);
      const outputs: StoredOutput[] = [];
      for (const [index, image] of images.entries()) {
        const { key } = planned[index];
        const sha256 = sha256Hex(image.data);
        const { created, sizeBytes } = await this.storage.putIfAbsent(
          key,
          image.data,
          { sha256 },
        );
        outputs.push(
          created
            ? {
                name: image.name,
                key,
                format: image.format,
                width: image.width,
                height: image.height,
                sizeBytes,
                sha256,
              }
            : await this.storedOutput(planned[index]),
        );
      }
      await failpoint('worker.after-output-stored');
      return { type: 'succeeded', outputs };
    } catch (error) {
      const classified = classifyProcessingError(error);
      if (!classified.permanent) throw error;
      return { type: 'failed', error: classified.error };
    }
  }

  /** Every operation the job runs: the shared ones and each variant's. */
  private operationsOf(job: ImageJobMessage): Array<{ op: string }> {
    return [
      ...job.operations,
      ...(job.variants ?? []).flatMap((variant) => variant.operations),
    ];
  }

  /**
   * The job's input, as a path where there is one (libvips then reads the file
   * itself, off the event loop); a URL source, or an upload in an object store,
   * is first streamed to a temporary file (never held whole in memory), removed
   * by `release`.
   */
  private async openInput(
    job: ImageJobMessage,
    deadline: Deadline,
  ): Promise<{ input: Buffer | string; release: () => Promise<void> }> {
    const kept = (): Promise<void> => Promise.resolve();
    switch (job.source.kind) {
      case 'images':
        return {
          input: await this.images.resolve(job.source.path),
          release: kept,
        };
      case 'upload': {
        const local = this.storage.localPath(job.source.key);
        if (local !== null) return { input: local, release: kept };
        const path = join(
          tmpdir(),
          `image-upload-${job.jobId}-${randomUUID()}`,
        );
        const release = () => rm(path, { force: true });
        try {
          const { stream } = await this.storage.openReadStream(job.source.key);
          await pipeline(stream, createWriteStream(path), {
            signal: AbortSignal.timeout(
              Math.max(1, Math.ceil(deadline.remainingMs())),
            ),
          });
        } catch (error) {
          await release();
          if (deadline.expired)
            throw deadline.timeoutError('reading the upload');
          throw error;
        }
        return { input: path, release };
      }
      case 'url': {
        const path = join(
          tmpdir(),
          `image-source-${job.jobId}-${randomUUID()}`,
        );
        deadline.check('downloading the source');
        try {
          await this.fetcher.download(job.source.url, path, {
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
  }

  /**
   * The outputs of an earlier delivery that stored them all but did not get to
   * ack; null if any is missing.
   */
  private async storedOutputs(
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

  /** What every log line about a job carries. */
  private logFields(
    job: Pick<ImageJobMessage, 'jobId' | 'attempt'>,
    context: AmqpContext,
  ): Record<string, unknown> {
    return {
      jobId: job.jobId,
      attempt: job.attempt,
      delivery: context.deliveryNumber,
      correlationId: context.correlationId,
    };
  }

  /**
   * Publishes a step of the job under the id derived for it, carrying the job's
   * correlation id along. An outcome (succeeded, failed) the broker does not
   * take fails with OutcomeNotPublishedError, so that the message is
   * redelivered whatever its try, never parked without its outcome.
   */
  private async publishEvent(
    job: Pick<ImageJobMessage, 'jobId' | 'attempt'>,
    context: AmqpContext,
    outcome: Outcome | { type: 'started' },
    at = new Date().toISOString(),
  ): Promise<void> {
    const delivery = context.deliveryNumber;
    const event: JobEventMessage = {
      eventId: jobEventId(job.jobId, job.attempt, outcome.type, delivery),
      jobId: job.jobId,
      attempt: job.attempt,
      delivery,
      workerId: this.config.WORKER_ID,
      at,
      ...outcome,
    };
    try {
      await this.publisher.publish(
        MessageType.jobEvent,
        event.eventId,
        event,
        context.correlationId,
      );
    } catch (error) {
      if (outcome.type === 'succeeded' || outcome.type === 'failed')
        throw new OutcomeNotPublishedError(error);
      throw error;
    }
  }
}
