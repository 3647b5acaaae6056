/**
 * The started event of a job, published only if the job runs long enough for
 * anyone to see it processing; otherwise the outcome carries `startedAt` and
 * the writer records the start from it.
 */
export class StartedAnnouncement {
  private readonly timer: NodeJS.Timeout;
  private published?: Promise<void>;

  constructor(afterMs: number, publish: () => Promise<void>) {
    this.timer = setTimeout(() => {
      this.published = publish();
      // Awaited by `failure`; if the work throws first, the message is
      // redelivered and this does not matter.
      this.published.catch(() => undefined);
    }, afterMs);
  }

  /** The job's work is over: too late to announce its start. */
  cancel(): void {
    clearTimeout(this.timer);
  }

  /**
   * Once the started event, if it was published, is confirmed: why the broker
   * did not take it, or undefined.
   */
  failure(): Promise<Error | undefined> {
    if (!this.published) return Promise.resolve(undefined);
    return this.published.then(
      () => undefined,
      (error: Error) => error,
    );
  }
}
