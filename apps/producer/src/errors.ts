/** An error that is named after its class, as logs and stacks show it. */
class NamedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class UnsupportedImageError extends NamedError {}

export class PayloadTooLargeError extends NamedError {}

/**
 * A dependency (the database) failed while taking a job; the job was not
 * accepted.
 */
export class DependencyUnavailableError extends NamedError {
  constructor(dependency: string, cause: unknown) {
    super(
      `${dependency} is unavailable (${(cause as Error)?.message ?? cause})`,
    );
  }
}

/** An Idempotency-Key already used for a different request. */
export class IdempotencyConflictError extends NamedError {
  constructor(key: string) {
    super(`Idempotency-Key "${key}" was already used for a different request`);
  }
}

/**
 * The job's outputs were removed by the retention sweep: answered 410 Gone,
 * with when.
 */
export class OutputsExpiredError extends NamedError {
  constructor(
    readonly jobId: string,
    readonly expiredAt: string,
  ) {
    super(
      `the outputs of job ${jobId} expired at ${expiredAt} (kept for RETENTION_OUTPUTS_S after the job finished) and were removed; submit the job again to get them`,
    );
  }
}
