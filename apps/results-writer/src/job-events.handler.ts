import { Controller, Logger } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { MessageType, parseJobEventMessage } from '@pipeline/contracts';
import { AmqpContext, PermanentMessageError } from '@pipeline/messaging';
import { activeTraceId } from '@pipeline/platform';
import { JobEventsRecorder } from './job-events.recorder';

/**
 * Takes job events off the events queue. Each message is acked (by the
 * transport) only after the transaction holding its event has committed; an
 * event the database refuses for its content is parked.
 */
@Controller()
export class JobEventsHandler {
  private readonly logger = new Logger(JobEventsHandler.name);

  constructor(private readonly recorder: JobEventsRecorder) {}

  @EventPattern(MessageType.jobEvent)
  async record(
    @Payload() payload: unknown,
    @Ctx() context: AmqpContext,
  ): Promise<void> {
    const event = parseJobEventMessage(payload);
    const outcome = await this.recorder.record(event);
    const fields = {
      jobId: event.jobId,
      eventId: event.eventId,
      type: event.type,
      correlationId: context.correlationId,
      traceId: activeTraceId(),
    };
    if (!outcome.stored) {
      this.logger.error({
        msg: 'event refused by the database',
        ...fields,
        error: outcome.reason,
      });
      throw new PermanentMessageError(
        `the database refused the event: ${outcome.reason}`,
      );
    }
    this.logger.debug({ msg: 'event recorded', ...fields });
  }
}
