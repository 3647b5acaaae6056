import { NotFoundException } from '@nestjs/common';
import { JobNotCancellableError } from '@pipeline/database';
import { callerWith, InMemoryJobs } from '../test/in-memory-jobs';
import { JobOperationsService } from './job-operations.service';
import { JobQueryService } from './job-query.service';
import { JobSubmissionService } from './job-submission.service';

const ACTOR = { apiKeyId: 'key-admin', requestId: 'request-1' };

/** The operations over an in-memory table, publishing into `published`. */
function operationsOver(jobs: InMemoryJobs, published: string[] = []) {
  const submission: Pick<JobSubmissionService, 'publish'> = {
    publish: (job, attempt = 1) => {
      if (job.id === 'unpublishable')
        return Promise.reject(new Error('RabbitMQ is unreachable'));
      published.push(`${job.id}/${attempt}`);
      return Promise.resolve();
    },
  };
  const query = new JobQueryService(jobs, { STUCK_AFTER_S: 300 });
  return new JobOperationsService(query, jobs, submission);
}

const failed = (id: string, code = 'DECODE_FAILED', createdAt?: string) => ({
  id,
  apiKeyId: 'key-a',
  status: 'failed' as const,
  error: { code, message: 'failed' },
  ...(createdAt ? { createdAt } : {}),
});

describe('JobOperationsService', () => {
  it('runs a failed job again as its next attempt, published under the operator’s request', async () => {
    const jobs = new InMemoryJobs();
    jobs.put(failed('j1'));
    const published: string[] = [];
    const operations = operationsOver(jobs, published);
    await expect(operations.retry('j1', ACTOR)).resolves.toEqual({
      id: 'j1',
      attempt: 2,
    });
    expect(published).toEqual(['j1/2']);
    await expect(operations.retry('nope', ACTOR)).rejects.toThrow(
      new NotFoundException('job nope does not exist'),
    );
  });

  it('retries failed jobs oldest first, skips the cancelled ones, and stops when publishing fails', async () => {
    const jobs = new InMemoryJobs();
    jobs.put(failed('second', 'DECODE_FAILED', '2026-01-01T00:00:02Z'));
    jobs.put(failed('first', 'DECODE_FAILED', '2026-01-01T00:00:01Z'));
    jobs.put(failed('cancelled', 'CANCELLED', '2026-01-01T00:00:00Z'));
    jobs.put(failed('unpublishable', 'DECODE_FAILED', '2026-01-01T00:00:03Z'));
    jobs.put(failed('after', 'DECODE_FAILED', '2026-01-01T00:00:04Z'));
    const report = await operationsOver(jobs).retryFailed({}, ACTOR);
    expect(report).toEqual({
      retried: [
        { id: 'first', attempt: 2 },
        { id: 'second', attempt: 2 },
      ],
      skipped: [],
      stoppedBecause: 'RabbitMQ is unreachable',
    });
  });

  it('skips a job retried meanwhile in a bulk retry', async () => {
    const jobs = new InMemoryJobs();
    jobs.put(failed('j1'));
    const operations = operationsOver(jobs);
    const original = jobs.failedIds.bind(jobs);
    jobs.failedIds = async (filter) => {
      const ids = await original(filter);
      await operations.retry('j1', ACTOR);
      return ids;
    };
    const report = await operations.retryFailed({ limit: 5 }, ACTOR);
    expect(report.retried).toEqual([]);
    expect(report.skipped).toEqual([
      {
        id: 'j1',
        reason:
          'job j1 is queued; only a failed job, or one flagged stuck, can be retried',
      },
    ]);
  });

  it("cancels the caller's own unfinished job, and no other key's", async () => {
    const jobs = new InMemoryJobs();
    jobs.put({ id: 'j1', apiKeyId: 'key-a' });
    jobs.put({ id: 'done', apiKeyId: 'key-a', status: 'succeeded' });
    const operations = operationsOver(jobs);
    const owner = callerWith('key-a', 'jobs:write');
    await expect(
      operations.cancel(callerWith('key-b', 'jobs:write'), ACTOR, 'j1'),
    ).rejects.toBeInstanceOf(NotFoundException);
    await expect(operations.cancel(owner, ACTOR, 'j1')).resolves.toMatchObject({
      id: 'j1',
      status: 'failed',
      error: { code: 'CANCELLED' },
    });
    await expect(
      operations.cancel(owner, ACTOR, 'done'),
    ).rejects.toBeInstanceOf(JobNotCancellableError);
  });
});
