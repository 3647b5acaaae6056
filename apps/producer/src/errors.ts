export class UnsupportedImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedImageError';
  }
}

export class PayloadTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadTooLargeError';
  }
}

/**
 * A dependency (the database) failed while taking a job; the job was not
 * accepted.
 */
export class DependencyUnavailableError extends Error {
  constructor(dependency: string, cause: unknown) {
    super(
      `${dependency} is unavailable (${(cause as Error)?.message ?? cause})`,
    );
    this.name = 'DependencyUnavailableError';
  }
}

/** An Idempotency-Key already used for a different request. */
export class IdempotencyConflictError extends Error {
  constructor(key: string) {
    super(`Idempotency-Key "${key}" was already used for a different request`);
    this.name = 'IdempotencyConflictError';
  }
}

/**
 * The job's outputs were removed by the retention sweep: answered 410 Gone,
 * with when.
 */
export class OutputsExpiredError extends Error {
  constructor(
    readonly jobId: string,
    readonly expiredAt: string,
  ) {
    super(
      `the outputs of job ${jobId} expired at ${expiredAt} (kept for RETENTION_OUTPUTS_S after the job finished) and were removed; submit the job again to get them`,
    );
    this.name = 'OutputsExpiredError';
  }
}
