import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { JobEventMessage } from '@pipeline/contracts';
import {
  Batcher,
  isTransientDatabaseError,
  JobEventsRepository,
} from '@pipeline/database';
import { failpoint } from '@pipeline/failpoints';
import { WriterMetrics } from '@pipeline/metrics';
import { WriterConfig } from '@pipeline/platform';

/**
 * How one event of a batch fared: stored, or refused by the database for its
 * content.
 */
export type Recorded = { stored: true } | { stored: false; reason: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The app is stopping while the database is away: give the messages back
 * rather than wait.
 */
class ShuttingDown extends Error {}

/**
 * Records job events. Events arriving together are committed in one
 * transaction; `record` resolves only after the transaction holding the event
 * has committed.
 *
 * While PostgreSQL is unreachable it waits, retrying with backoff: nothing is
 * requeued in a storm, and nothing is dead-lettered because of an outage. An
 * event the database refuses for its content is reported on its own, without
 * holding back the rest of its batch.
 */
@Injectable()
export class JobEventsRecorder implements BeforeApplicationShutdown {
  private readonly logger = new Logger(JobEventsRecorder.name);
  private readonly batcher: Batcher<JobEventMessage, Recorded>;
  private stopping = false;

  constructor(
    private readonly events: JobEventsRepository,
    private readonly metrics: WriterMetrics,
    config: WriterConfig,
  ) {
    this.batcher = new Batcher(
      (batch) => this.commit(batch),
      config.WRITER_MAX_BATCH,
    );
  }

  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  record(event: JobEventMessage): Promise<Recorded> {
    return this.batcher.add(event);
  }

  private async commit(batch: JobEventMessage[]): Promise<Recorded[]> {
    try {
      await this.recordPatiently(batch);
      await failpoint('writer.after-commit');
      return batch.map(() => ({ stored: true }));
    } catch (error) {
      if (error instanceof ShuttingDown) throw error;
      if (batch.length === 1)
        return [{ stored: false, reason: (error as Error).message }];
      // Something in the batch is at fault: find what, one event at a time.
      const results: Recorded[] = [];
      for (const event of batch) {
        results.push(
          await this.recordPatiently([event]).then(
            (): Recorded => ({ stored: true }),
            (failure: Error): Recorded => {
              if (failure instanceof ShuttingDown) throw failure;
              return { stored: false, reason: failure.message };
            },
          ),
        );
      }
      return results;
    }
  }

  /**
   * Records the events, waiting out database outages; rejects only for errors
   * in the data.
   */
  private async recordPatiently(batch: JobEventMessage[]): Promise<void> {
    for (let delay = 250; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        const stopTimer = this.metrics.commitDuration.startTimer();
        const outcome = await this.events.record(batch);
        stopTimer();
        this.metrics.batchSize.observe(batch.length);
        for (const [ended, count] of Object.entries(outcome.finished))
          this.metrics.jobsFinished.inc({ outcome: ended }, count);
        if (outcome.orphans.length > 0)
          this.logger.warn(
            `Events for unknown jobs, dropped: ${outcome.orphans.join(', ')}`,
          );
        return;
      } catch (error) {
        if (!isTransientDatabaseError(error)) throw error;
        if (this.stopping)
          throw new ShuttingDown(
            'stopping while PostgreSQL is unavailable; the events go back to the queue',
          );
        this.logger.warn(
          `PostgreSQL is unavailable (${(error as Error).message}); holding ${batch.length} events, retrying in ${delay} ms`,
        );
        await sleep(delay);
      }
    }
  }
}
