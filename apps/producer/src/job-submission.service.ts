import { Injectable } from '@nestjs/common';
import { ImageJobMessage, JobSource, JobSpec, MessageType } from '@pipeline/contracts';
import { JobsRepository } from '@pipeline/database';
import { MessagePublisher } from '@pipeline/messaging';
import { DependencyUnavailableError, IdempotencyConflictError } from './errors';

/**
 * Accepting a job: record it as queued, publish it, and return only once the broker has
 * confirmed. If publishing fails the row is removed again, so a job is either fully
 * accepted or not at all (the caller removes an uploaded input it stored).
 */
@Injectable()
export class JobSubmissionService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly publisher: MessagePublisher,
  ) {}

  /**
   * Accepts the job, or, when `idempotency` names a key already used for the same request,
   * returns the job first accepted under it (a different request under the key: 409).
   */
  async submit(id: string, source: JobSource, spec: JobSpec, idempotency?: { key: string; requestHash: string }): Promise<{ id: string; repeated: boolean }> {
    const createdAt = new Date();
    let recorded: boolean;
    try {
      recorded = await this.jobs.insertQueued({ id, source, ...spec, createdAt, idempotency });
    } catch (error) {
      throw new DependencyUnavailableError('the database', error);
    }
    if (!recorded) {
      const first = await this.jobs.findByIdempotencyKey(idempotency!.key);
      // Gone again: the first request under the key was not accepted after all; the client may retry.
      if (!first) throw new DependencyUnavailableError('the first request under this Idempotency-Key', 'it was not accepted');
      if (first.requestHash !== idempotency!.requestHash) throw new IdempotencyConflictError(idempotency!.key);
      return { id: first.id, repeated: true };
    }
    const message: ImageJobMessage = { jobId: id, attempt: 1, source, ...spec, submittedAt: createdAt.toISOString() };
    try {
      await this.publisher.publish(MessageType.imageJob, id, message);
    } catch (error) {
      await this.jobs.delete(id).catch(() => undefined);
      throw error;
    }
    return { id, repeated: false };
  }
}
