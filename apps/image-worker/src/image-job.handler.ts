import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import {
  attemptOfJobMessage,
  ImageJobMessage,
  JobErrorCode,
  MessageType,
  parseImageJobMessage,
  ValidationFailed,
} from '@pipeline/contracts';
import { AmqpContext, PermanentMessageError } from '@pipeline/messaging';
import { ImageJobRunner } from './image-job.runner';
import { JobEventPublisher } from './job-event-publisher';
import { WorkerActivity } from './worker-activity';

/**
 * Takes image job messages off the jobs queue and hands each to the runner.
 * The message is acked (by the transport) only once the runner has published
 * the job's outcome.
 */
@Controller()
export class ImageJobHandler {
  constructor(
    private readonly runner: ImageJobRunner,
    private readonly events: JobEventPublisher,
    private readonly activity: WorkerActivity,
  ) {}

  @EventPattern(MessageType.imageJob)
  async handle(
    @Payload() payload: unknown,
    @Ctx() context: AmqpContext,
  ): Promise<void> {
    this.activity.inFlight++;
    try {
      const job = await this.parse(payload, context);
      await this.runner.run(job, context);
    } finally {
      this.activity.inFlight--;
    }
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
        const job = { jobId, attempt: attemptOfJobMessage(payload) };
        await this.events.publish(job, context, {
          type: 'failed',
          error: { code: JobErrorCode.invalidMessage, message: error.message },
        });
      }
      throw new PermanentMessageError(`invalid job message: ${error.message}`);
    }
  }
}
