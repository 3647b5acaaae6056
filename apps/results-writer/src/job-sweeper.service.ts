import { Injectable } from '@nestjs/common';
import { imageJobMessage, MessageType } from '@pipeline/contracts';
import { failpoint } from '@pipeline/failpoints';
import {
  JobSweepRepository,
  nothingCanMove,
  stuckReason,
  SweepEvidence,
} from '@pipeline/database';
import {
  AmqpConnection,
  MessagePublisher,
  queueDepths,
} from '@pipeline/messaging';
import { WriterMetrics } from '@pipeline/metrics';
import { WriterConfig } from '@pipeline/platform';
import { PeriodicService } from './periodic-service';

/**
 * Jobs looked at per pass and kind; a larger backlog is worked through pass by
 * pass.
 */
const SWEEP_BATCH = 500;

/**
 * Makes sure no accepted job sits silently. Every SWEEP_INTERVAL_S one results
 * writer (the one holding the sweep lock):
 * - publishes again every queued job whose message no confirm was recorded for
 *   within SWEEP_REPUBLISH_AFTER_S (its producer died between the insert and
 *   the mark). The same job id and attempt: should the first message exist
 *   after all, workers and writer keep one outcome.
 * - flags as stuck, with the reason, every unfinished job that nothing can move
 *   any more: no job message waits in any queue and no live worker is busy, on
 *   two passes in a row, and the job did not change in between. The next event
 *   of the job clears the flag.
 */
@Injectable()
export class JobSweeper extends PeriodicService {
  /** Jobs that nothing could move on the last pass, with their version then. */
  private suspects = new Map<string, string>();

  constructor(
    private readonly jobs: JobSweepRepository,
    private readonly publisher: MessagePublisher,
    private readonly connection: AmqpConnection,
    private readonly metrics: WriterMetrics,
    private readonly config: WriterConfig,
  ) {
    super('Sweep', config.SWEEP_INTERVAL_S * 1000);
  }

  /** One pass; false when another writer holds the sweep lock. */
  sweep(): Promise<boolean> {
    return this.jobs.whileHoldingLock(async () => {
      await this.republishUnconfirmed();
      await this.flagStuck();
    });
  }

  private async republishUnconfirmed(): Promise<void> {
    const before = new Date(
      Date.now() - this.config.SWEEP_REPUBLISH_AFTER_S * 1000,
    );
    for (const job of await this.jobs.unpublished(before, SWEEP_BATCH)) {
      await this.publisher.publish(
        MessageType.imageJob,
        job.id,
        imageJobMessage(job, job.attempt),
      );
      await failpoint('sweeper.after-publish');
      await this.jobs.markPublished(job.id, job.attempt);
      this.metrics.sweptJobs.inc({ action: 'republished' });
      this.logger.warn({
        msg: 'job republished by the sweeper',
        jobId: job.id,
        attempt: job.attempt,
        reason: `no broker confirm was recorded within ${this.config.SWEEP_REPUBLISH_AFTER_S} s`,
      });
    }
  }

  private async flagStuck(): Promise<void> {
    const evidence = await this.readEvidence();
    if (!nothingCanMove(evidence)) {
      this.suspects.clear();
      return;
    }
    const now = Date.now();
    const goneBefore = new Date(now - this.config.WORKER_GONE_AFTER_S * 1000);
    // Quiet for as long as a worker takes to be seen gone: anything younger may
    // still be on its way.
    const candidates = await this.jobs.quietUnfinished(
      goneBefore,
      goneBefore,
      SWEEP_BATCH,
    );
    const suspects = new Map<string, string>();
    for (const job of candidates) {
      if (this.suspects.get(job.id) !== job.version) {
        suspects.set(job.id, job.version);
        continue;
      }
      const reason = stuckReason(job, evidence);
      if (await this.jobs.flagStuck(job, reason)) {
        this.metrics.sweptJobs.inc({ action: 'flagged_stuck' });
        this.logger.error({
          msg: 'job flagged stuck by the sweeper',
          jobId: job.id,
          status: job.status,
          workerId: job.workerId,
          reason,
        });
      }
    }
    this.suspects = suspects;
  }

  private async readEvidence(): Promise<SweepEvidence> {
    const topology = this.connection.topology;
    const waiting = [
      topology.jobsQueue,
      topology.eventsQueue,
      ...topology.jobRetryTiers.map((tier) => tier.queue),
    ];
    const depths = await queueDepths(this.connection, [
      ...waiting,
      topology.jobsDeadLetterQueue,
    ]);
    const goneBefore = new Date(
      Date.now() - this.config.WORKER_GONE_AFTER_S * 1000,
    );
    return {
      waitingMessages: depths
        .filter((depth) => waiting.includes(depth.queue))
        .reduce((sum, depth) => sum + depth.ready, 0),
      parkedJobMessages:
        depths.find((depth) => depth.queue === topology.jobsDeadLetterQueue)
          ?.ready ?? 0,
      busyWorkers: await this.jobs.busyWorkers(goneBefore),
    };
  }
}
