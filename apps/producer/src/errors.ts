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

/** A dependency (the database) failed while taking a job; the job was not accepted. */
export class DependencyUnavailableError extends Error {
  constructor(dependency: string, cause: unknown) {
    super(`${dependency} is unavailable (${(cause as Error)?.message ?? cause})`);
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
