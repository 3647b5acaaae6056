/** A key went past one of its limits: answered 429 with Retry-After. */
export class RateLimitExceededError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'RateLimitExceededError';
  }
}
