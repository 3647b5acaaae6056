/** A key holds as many stored bytes as its quota allows: answered 413. */
export class StorageQuotaExceededError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageQuotaExceededError';
  }
}
