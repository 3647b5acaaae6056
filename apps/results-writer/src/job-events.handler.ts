import { Controller, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { JobEventMessage, MessageType, parseJobEventMessage } from '@pipeline/contracts';
import { Batcher, JobEventsRepository, RecordOutcome } from '@pipeline/database';
import { WriterConfig } from '@pipeline/platform';

/**
 * Records job events. Events arriving together are committed in one transaction; each
 * message is acked (by the transport) only after the transaction holding it has committed.
 */
@Controller()
export class JobEventsHandler {
  private readonly logger = new Logger(JobEventsHandler.name);
  private readonly batcher: Batcher<JobEventMessage, void>;

  constructor(
    private readonly events: JobEventsRepository,
    config: WriterConfig,
  ) {
    this.batcher = new Batcher((batch) => this.commit(batch), config.WRITER_MAX_BATCH);
  }

  @EventPattern(MessageType.jobEvent)
  async record(@Payload() payload: unknown): Promise<void> {
    await this.batcher.add(parseJobEventMessage(payload));
  }

  private async commit(batch: JobEventMessage[]): Promise<void[]> {
    const outcome: RecordOutcome = await this.events.record(batch);
    if (outcome.orphans.length > 0) this.logger.warn(`Events for unknown jobs, dropped: ${outcome.orphans.join(', ')}`);
    this.logger.debug(`Committed ${batch.length} events: ${outcome.recorded} new, ${outcome.duplicates} seen before`);
    return batch.map(() => undefined);
  }
}
