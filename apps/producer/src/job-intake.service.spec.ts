import { RateLimitExceededError } from '@pipeline/auth';
import {
  DEFAULT_PRESETS,
  MessageType,
  ValidationFailed,
} from '@pipeline/contracts';
import { ImagePathError } from '@pipeline/storage';
import { FastifyRequest } from 'fastify';
import { Counter } from 'prom-client';
import { callerWith, InMemoryJobs } from '../test/in-memory-jobs';
import { IdempotencyConflictError } from './errors';
import { JobBatchService } from './job-batch.service';
import { JobInputCheck } from './job-input-check';
import {
  JobAdmission,
  JobIntakeService,
  Submitter,
} from './job-intake.service';
import { JobQueryService } from './job-query.service';
import { JobSubmissionService } from './job-submission.service';
import { Upload } from './upload-reader';

/** The files the images folder holds. */
const FILES = ['in.jpg', 'logo.png'];

/** The services that take jobs, over an in-memory jobs table and broker. */
function intakeOver(
  jobs: InMemoryJobs,
  options: { admit?: JobAdmission['admitJobs']; upload?: Upload } = {},
) {
  const published: Array<{ type: MessageType; id: string }> = [];
  const deleted: string[] = [];
  const publisher = {
    publishFails: false,
    publish(type: MessageType, id: string): Promise<void> {
      if (publisher.publishFails)
        return Promise.reject(new Error('no confirm'));
      published.push({ type, id });
      return Promise.resolve();
    },
  };
  const submission = new JobSubmissionService(
    jobs,
    publisher,
    { PUBLISH_TIMEOUT_MS: 0 },
    {
      jobsAccepted: new Counter({
        name: 'jobs_accepted',
        help: 'jobs accepted',
        labelNames: ['source'],
        registers: [],
      }),
    },
  );
  const images = {
    resolve(path: string, label = 'source.path'): Promise<string> {
      return FILES.includes(path)
        ? Promise.resolve(`/images/${path}`)
        : Promise.reject(new ImagePathError(`${label} does not exist`));
    },
  };
  const keys = { admitJobs: options.admit ?? (() => Promise.resolve()) };
  const intake = new JobIntakeService(
    submission,
    new JobQueryService(jobs, { STUCK_AFTER_S: 300 }),
    new JobInputCheck(images, { SOURCE_URL_PORTS: '80,443' }),
    { check: () => Promise.resolve() },
    { read: () => Promise.resolve(options.upload!) },
    {
      delete: (key: string) => {
        deleted.push(key);
        return Promise.resolve();
      },
    },
    keys,
    DEFAULT_PRESETS,
  );
  const batches = new JobBatchService(intake, keys, {
    MAX_BATCH_JOBS: 3,
    MAX_BATCH_OPERATIONS: 4,
  });
  return { intake, batches, publisher, published, deleted };
}

const resize = { op: 'resize', width: 100 };
const jsonJob = (path = 'in.jpg') => ({
  source: { path },
  operations: [resize],
  output: { format: 'webp' },
});
const by = (keyId: string, idempotencyKey?: string): Submitter => ({
  caller: callerWith(keyId, 'jobs:write', 'jobs:read'),
  idempotencyKey,
  correlationId: 'request-1',
});

describe('JobIntakeService: JSON jobs', () => {
  it('records the job, publishes it once and marks it published', async () => {
    const jobs = new InMemoryJobs();
    const { intake, published } = intakeOver(jobs);
    const job = await intake.submitJson(by('key-a'), jsonJob());
    expect(job.status).toBe('queued');
    expect(published).toEqual([{ type: MessageType.imageJob, id: job.id }]);
    expect(jobs.rows.get(job.id)).toMatchObject({
      published: true,
      recorded: { source: { kind: 'images', path: 'in.jpg' } },
    });
  });

  it('answers a repeat under the same Idempotency-Key with the first job, publishing nothing more', async () => {
    const jobs = new InMemoryJobs();
    const { intake, published } = intakeOver(jobs);
    const first = await intake.submitJson(by('key-a', 'k1'), jsonJob());
    jobs.rows.get(first.id)!.job.status = 'processing';
    const repeat = await intake.submitJson(by('key-a', 'k1'), jsonJob());
    expect(repeat).toEqual({ id: first.id, status: 'processing' });
    expect(jobs.rows.size).toBe(1);
    expect(published).toHaveLength(1);
  });

  it('refuses a different request under a used Idempotency-Key', async () => {
    const { intake } = intakeOver(new InMemoryJobs());
    await intake.submitJson(by('key-a', 'k1'), jsonJob());
    await expect(
      intake.submitJson(by('key-a', 'k1'), jsonJob('logo.png')),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
  });

  it('keeps Idempotency-Keys apart per API key', async () => {
    const jobs = new InMemoryJobs();
    const { intake } = intakeOver(jobs);
    const a = await intake.submitJson(by('key-a', 'k1'), jsonJob());
    const b = await intake.submitJson(by('key-b', 'k1'), jsonJob());
    expect(b.id).not.toBe(a.id);
    expect(jobs.rows.size).toBe(2);
  });

  it('publishes again, for a repeat, a first job that was recorded but never confirmed', async () => {
    const jobs = new InMemoryJobs();
    const { intake, published } = intakeOver(jobs);
    const first = await intake.submitJson(by('key-a', 'k1'), jsonJob());
    jobs.rows.get(first.id)!.published = false;
    const repeat = await intake.submitJson(by('key-a', 'k1'), jsonJob());
    expect(repeat.id).toBe(first.id);
    expect(published.map(({ id }) => id)).toEqual([first.id, first.id]);
    expect(jobs.rows.get(first.id)!.published).toBe(true);
  });

  it('records nothing for a key over its limits', async () => {
    const jobs = new InMemoryJobs();
    const { intake, published } = intakeOver(jobs, {
      admit: () =>
        Promise.reject(new RateLimitExceededError('too many jobs', 5)),
    });
    await expect(
      intake.submitJson(by('key-a'), jsonJob()),
    ).rejects.toBeInstanceOf(RateLimitExceededError);
    expect(jobs.rows.size).toBe(0);
    expect(published).toHaveLength(0);
  });

  it('removes the job again when the broker does not take it', async () => {
    const jobs = new InMemoryJobs();
    const { intake, publisher } = intakeOver(jobs);
    publisher.publishFails = true;
    await expect(intake.submitJson(by('key-a'), jsonJob())).rejects.toThrow(
      'no confirm',
    );
    expect(jobs.rows.size).toBe(0);
  });

  it('refuses a source or a watermark that is not in the images folder, and a URL on a port workers may not use', async () => {
    const jobs = new InMemoryJobs();
    const { intake } = intakeOver(jobs);
    await expect(
      intake.submitJson(by('key-a'), jsonJob('missing.jpg')),
    ).rejects.toBeInstanceOf(ImagePathError);
    const watermark = {
      ...jsonJob(),
      operations: [{ op: 'watermark', image: 'gone.png' }],
    };
    await expect(intake.submitJson(by('key-a'), watermark)).rejects.toThrow(
      'operations[0].image does not exist',
    );
    const url = { ...jsonJob(), source: { url: 'http://example.com:8080/a' } };
    await expect(intake.submitJson(by('key-a'), url)).rejects.toThrow(
      /source\.url is not allowed/,
    );
    expect(jobs.rows.size).toBe(0);
  });
});

describe('JobIntakeService: uploads', () => {
  const upload = (fields: Record<string, string>): Upload => ({
    fields,
    imageKey: 'uploads/1',
    imageDigest: 'abc',
    imageBytes: 10,
    imageStart: null,
  });
  const request = {} as FastifyRequest;
  const operations = JSON.stringify([resize]);

  it('keeps the stored upload as the input of a new job', async () => {
    const jobs = new InMemoryJobs();
    const { intake, deleted } = intakeOver(jobs, {
      upload: upload({ operations, output: '{"format":"png"}' }),
    });
    const job = await intake.submitUpload(by('key-a'), request);
    expect(jobs.rows.get(job.id)!.recorded.source).toEqual({
      kind: 'upload',
      key: 'uploads/1',
    });
    expect(deleted).toEqual([]);
  });

  it('removes the stored upload of a refused job and of a repeat', async () => {
    const jobs = new InMemoryJobs();
    const refused = intakeOver(jobs, {
      upload: upload({ operations: 'not json' }),
    });
    await expect(
      refused.intake.submitUpload(by('key-a'), request),
    ).rejects.toThrow('operations is not valid JSON');
    expect(refused.deleted).toEqual(['uploads/1']);

    const repeated = intakeOver(jobs, {
      upload: upload({ operations, output: '{"format":"png"}' }),
    });
    const first = await repeated.intake.submitUpload(by('key-a', 'k'), request);
    const again = await repeated.intake.submitUpload(by('key-a', 'k'), request);
    expect(again.id).toBe(first.id);
    expect(repeated.deleted).toEqual(['uploads/1']);
  });

  it('refuses a request without an image part', async () => {
    const { intake, deleted } = intakeOver(new InMemoryJobs(), {
      upload: { ...upload({}), imageKey: null, imageDigest: null },
    });
    await expect(intake.submitUpload(by('key-a'), request)).rejects.toThrow(
      ValidationFailed,
    );
    expect(deleted).toEqual([]);
  });
});

describe('JobBatchService', () => {
  it('answers each item in order: the accepted job or the error that kept it out', async () => {
    const jobs = new InMemoryJobs();
    const { batches } = intakeOver(jobs);
    const { jobs: answers } = await batches.submit(
      callerWith('key-a', 'jobs:write'),
      { jobs: [jsonJob(), { source: {} }, jsonJob('missing.jpg')] },
      'request-1',
    );
    expect(answers[0]).toMatchObject({ status: 'queued' });
    expect(jobs.rows.has((answers[0] as { id: string }).id)).toBe(true);
    expect(answers[1]).toMatchObject({ error: { statusCode: 400 } });
    expect(answers[2]).toEqual({
      error: { statusCode: 400, message: ['source.path does not exist'] },
    });
    expect(jobs.rows.size).toBe(1);
  });

  it.each([
    ['a body without jobs', { items: [] }, /body must be \{"jobs"/],
    ['no jobs', { jobs: [] }, /jobs must hold 1 to 3 jobs \(got 0\)/],
    ['too many jobs', { jobs: Array(4).fill(jsonJob()) }, /got 4/],
    [
      'too many operations',
      { jobs: Array(3).fill({ ...jsonJob(), operations: [resize, resize] }) },
      /holds 6 operations .* MAX_BATCH_OPERATIONS \(4\)/,
    ],
  ])('refuses %s as a whole, admitting nothing', async (_, body, problem) => {
    const admitted: number[] = [];
    const { batches } = intakeOver(new InMemoryJobs(), {
      admit: (_caller, adding) => {
        admitted.push(adding);
        return Promise.resolve();
      },
    });
    const refusal = batches
      .submit(callerWith('key-a', 'jobs:write'), body, 'request-1')
      .catch((error: ValidationFailed) => error.problems.join('; '));
    await expect(refusal).resolves.toMatch(problem);
    expect(admitted).toEqual([]);
  });
});
