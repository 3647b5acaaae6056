import { Inject, Injectable, Logger } from '@nestjs/common';
import { ApiKeysService, Caller } from '@pipeline/auth';
import {
  batchOperationCount,
  isPlainObject,
  ValidationFailed,
} from '@pipeline/contracts';
import { ProducerConfig, TaskTurns } from '@pipeline/platform';
import { randomUUID } from 'node:crypto';
import { describeApiError } from './api-exception.filter';
import { JobAdmission, JobIntakeService } from './job-intake.service';

/** One job of a batch: accepted, or the error that kept it out. */
export type BatchItemResult =
  | { id: string; status: 'queued' }
  | { error: { statusCode: number; message: string | string[] } };

/**
 * Several JSON jobs in one request, each validated and accepted on its own.
 * The operations are counted before anything else, and the items are
 * validated one per event-loop turn, over every batch in flight, so that a big
 * batch (or many at once) does not hold up the producer's other requests.
 */
@Injectable()
export class JobBatchService {
  private readonly logger = new Logger('Api');
  private readonly validationTurns = new TaskTurns();

  constructor(
    private readonly intake: JobIntakeService,
    @Inject(ApiKeysService) private readonly keys: JobAdmission,
    @Inject(ProducerConfig)
    private readonly config: Pick<
      ProducerConfig,
      'MAX_BATCH_JOBS' | 'MAX_BATCH_OPERATIONS'
    >,
  ) {}

  /**
   * `body` as the client sent it; the answer lists, in order, the id of each
   * accepted job or the error that kept it out.
   */
  async submit(
    caller: Caller,
    body: unknown,
    correlationId: string,
  ): Promise<{ jobs: BatchItemResult[] }> {
    const items = this.itemsOf(body);
    await this.keys.admitJobs(caller, items.length);
    const refused = (error: unknown): BatchItemResult => {
      const [statusCode, message] = describeApiError(error, this.logger);
      return { error: { statusCode, message } };
    };
    const jobs: Promise<BatchItemResult>[] = [];
    for (const item of items) {
      const id = randomUUID();
      const parsed = await this.validationTurns
        .run(() => this.intake.parse(item))
        .then(
          (request) => ({ request }),
          (error: unknown) => ({ error }),
        );
      jobs.push(
        'error' in parsed
          ? Promise.resolve(refused(parsed.error))
          : this.intake
              .accept({ caller, correlationId }, id, parsed.request)
              .then((): BatchItemResult => ({ id, status: 'queued' }), refused),
      );
    }
    return { jobs: await Promise.all(jobs) };
  }

  /** The batch's items, if it is one this producer takes in one request. */
  private itemsOf(body: unknown): unknown[] {
    if (!isPlainObject(body) || !Array.isArray(body.jobs))
      throw new ValidationFailed([
        'body must be {"jobs": [...]}, one JSON job per item',
      ]);
    const items = body.jobs as unknown[];
    const max = this.config.MAX_BATCH_JOBS;
    if (items.length === 0 || items.length > max)
      throw new ValidationFailed([
        `jobs must hold 1 to ${max} jobs (got ${items.length})`,
      ]);
    const operations = batchOperationCount(items);
    if (operations > this.config.MAX_BATCH_OPERATIONS) {
      throw new ValidationFailed([
        `the batch holds ${operations} operations (its jobs' and their outputs' together), more than MAX_BATCH_OPERATIONS (${this.config.MAX_BATCH_OPERATIONS}) allows in one request`,
      ]);
    }
    return items;
  }
}
