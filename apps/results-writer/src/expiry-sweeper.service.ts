import { Injectable } from '@nestjs/common';
import { ExpiredBatch, RetentionRepository } from '@pipeline/database';
import { WriterMetrics } from '@pipeline/metrics';
import { WriterConfig } from '@pipeline/platform';
import { PeriodicService } from './periodic-service';
import {
  BlobStorage,
  removedTotals,
  retentionCutoffs,
} from '@pipeline/storage';

/**
 * Jobs handled per transaction; a pass goes on batch after batch until nothing
 * is left.
 */
const EXPIRY_BATCH = 200;

/**
 * Keeps storage from only growing. Every RETENTION_SWEEP_INTERVAL_S one results
 * writer (the one holding the expiry lock) removes the uploaded inputs and the
 * outputs of finished jobs past their retention, marks those jobs (results then
 * answer 410, retries 409), and removes job rows past RETENTION_JOBS_S.
 * Unfinished jobs are never touched.
 */
@Injectable()
export class ExpirySweeper extends PeriodicService {
  constructor(
    private readonly retention: RetentionRepository,
    private readonly storage: BlobStorage,
    private readonly metrics: WriterMetrics,
    private readonly config: WriterConfig,
  ) {
    super('Retention sweep', config.RETENTION_SWEEP_INTERVAL_S * 1000);
  }

  /** One pass; false when another writer holds the expiry lock. */
  sweep(now = new Date()): Promise<boolean> {
    const cutoffs = retentionCutoffs(
      {
        uploadsS: this.config.RETENTION_UPLOADS_S,
        outputsS: this.config.RETENTION_OUTPUTS_S,
        jobsS: this.config.RETENTION_JOBS_S,
      },
      now,
    );
    const remove = (keys: string[]) => this.storage.deleteMany(keys);
    const expiries = [
      {
        kind: 'output',
        before: cutoffs.outputsBefore,
        expire: 'expireOutputs',
      },
      { kind: 'upload', before: cutoffs.uploadsBefore, expire: 'expireInputs' },
    ] as const;
    return this.retention.whileHoldingLock(async () => {
      for (const { kind, before, expire } of expiries)
        if (before)
          await this.drain(kind, () =>
            this.retention[expire](before, EXPIRY_BATCH, remove),
          );
      if (cutoffs.jobsBefore) {
        for (;;) {
          const deleted = await this.retention.deleteJobs(
            cutoffs.jobsBefore,
            EXPIRY_BATCH,
          );
          this.metrics.expiredJobRows.inc(deleted);
          if (deleted > 0)
            this.logger.log(
              `Removed ${deleted} job rows that finished before ${cutoffs.jobsBefore.toISOString()}`,
            );
          if (deleted < EXPIRY_BATCH) break;
        }
      }
    });
  }

  private async drain(
    kind: 'upload' | 'output',
    expireBatch: () => Promise<ExpiredBatch>,
  ): Promise<void> {
    for (;;) {
      const batch = await expireBatch();
      const { blobs, bytes } = removedTotals(batch.removed);
      this.metrics.expiredBlobs.inc({ kind }, blobs);
      this.metrics.expiredBytes.inc({ kind }, bytes);
      if (batch.jobs > 0)
        this.logger.log(
          `Expired the ${kind}s of ${batch.jobs} jobs: ${blobs} objects, ${bytes} bytes`,
        );
      if (batch.jobs < EXPIRY_BATCH) return;
    }
  }
}
