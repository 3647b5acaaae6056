import { Injectable } from '@nestjs/common';
import { ImageJobMessage, JobSource, JobSpec, MessageType } from '@pipeline/contracts';
import { JobsRepository } from '@pipeline/database';
import { MessagePublisher } from '@pipeline/messaging';
import { DependencyUnavailableError } from './errors';

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

  async submit(id: string, source: JobSource, spec: JobSpec): Promise<void> {
    const createdAt = new Date();
    try {
      await this.jobs.insertQueued({ id, source, operations: spec.operations, output: spec.output, createdAt });
    } catch (error) {
      throw new DependencyUnavailableError('the database', error);
    }
    const message: ImageJobMessage = { jobId: id, attempt: 1, source, ...spec, submittedAt: createdAt.toISOString() };
    try {
      await this.publisher.publish(MessageType.imageJob, id, message);
    } catch (error) {
      await this.jobs.delete(id).catch(() => undefined);
      throw error;
    }
  }
}
