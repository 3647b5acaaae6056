import { ConflictException, NotFoundException } from '@nestjs/common';
import { callerWith, InMemoryJobs } from '../test/in-memory-jobs';
import { OutputsExpiredError } from './errors';
import { JobQueryService } from './job-query.service';

const OWNER = callerWith('key-a', 'jobs:read');
const OTHER = callerWith('key-b', 'jobs:read');
const ADMIN = callerWith('key-admin', 'admin');
const NOW = Date.parse('2026-01-01T12:00:00Z');
const minutesAgo = (minutes: number) =>
  new Date(NOW - minutes * 60_000).toISOString();

function queryOver(jobs: InMemoryJobs): JobQueryService {
  return new JobQueryService(jobs, { STUCK_AFTER_S: 300 });
}

describe('JobQueryService', () => {
  it("answers another key's job as if it did not exist, and shows an admin every job", async () => {
    const jobs = new InMemoryJobs();
    jobs.put({ id: 'j1', apiKeyId: 'key-a' });
    const query = queryOver(jobs);
    await expect(query.view(OWNER, 'j1')).resolves.toMatchObject({
      id: 'j1',
    });
    await expect(query.view(OTHER, 'j1')).rejects.toThrow(
      new NotFoundException('job j1 does not exist'),
    );
    await expect(query.timeline(OTHER, 'j1')).rejects.toBeInstanceOf(
      NotFoundException,
    );
    await expect(query.view(ADMIN, 'j1')).resolves.toMatchObject({
      id: 'j1',
    });
  });

  it('lists the caller’s own jobs only, newest first', async () => {
    const jobs = new InMemoryJobs();
    jobs.put({ id: 'old', apiKeyId: 'key-a', createdAt: minutesAgo(9) });
    jobs.put({ id: 'new', apiKeyId: 'key-a', createdAt: minutesAgo(1) });
    jobs.put({ id: 'theirs', apiKeyId: 'key-b', createdAt: minutesAgo(5) });
    const ids = async (caller = OWNER) =>
      (await queryOver(jobs).list(caller, { limit: 10 }, NOW)).jobs.map(
        ({ id }) => id,
      );
    expect(await ids()).toEqual(['new', 'old']);
    expect(await ids(ADMIN)).toEqual(['new', 'theirs', 'old']);
  });

  it('shows where outputs are, not where they are stored, and whether the job is stuck', async () => {
    const jobs = new InMemoryJobs();
    const output = {
      name: 'default',
      format: 'png' as const,
      width: 10,
      height: 10,
      sizeBytes: 99,
    };
    jobs.put({
      id: 'slow',
      apiKeyId: 'key-a',
      status: 'processing',
      startedAt: minutesAgo(6),
    });
    jobs.put({
      id: 'done',
      apiKeyId: 'key-a',
      status: 'succeeded',
      outputs: [{ ...output, key: 'outputs/done.png', sha256: 'abc' }],
    });
    const query = queryOver(jobs);
    const { jobs: views } = await query.list(
      OWNER,
      { limit: 10, stuck: true },
      NOW,
    );
    expect(views.map(({ id, stuck }) => ({ id, stuck }))).toEqual([
      { id: 'slow', stuck: true },
    ]);
    const done = query.toView((await jobs.findById('done'))!, NOW);
    expect(done).toMatchObject({ stuck: false, outputs: [output] });
    expect(done.outputs[0]).not.toHaveProperty('key');
    expect(done.outputs[0]).not.toHaveProperty('sha256');
  });

  it('gives a result only of a succeeded job whose outputs are kept', async () => {
    const jobs = new InMemoryJobs();
    jobs.put({ id: 'queued', apiKeyId: 'key-a' });
    jobs.put({
      id: 'failed',
      apiKeyId: 'key-a',
      status: 'failed',
      error: { code: 'DECODE_FAILED', message: 'not an image' },
    });
    jobs.put({
      id: 'expired',
      apiKeyId: 'key-a',
      status: 'succeeded',
      outputsExpiredAt: minutesAgo(1),
    });
    const query = queryOver(jobs);
    await expect(query.finished(OWNER, 'queued')).rejects.toThrow(
      new ConflictException('job queued is queued; its result is not ready'),
    );
    await expect(query.finished(OWNER, 'failed')).rejects.toThrow(
      'job failed failed: not an image',
    );
    await expect(query.finished(OWNER, 'expired')).rejects.toBeInstanceOf(
      OutputsExpiredError,
    );
  });
});
