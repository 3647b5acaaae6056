interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups concurrent calls into one batch call. While a batch is being written,
 * new items wait and go together in the next one: no timer, no added latency
 * when idle, and batches that grow with the load — the shape that keeps commits
 * per second low under pressure.
 */
export class Batcher<T, R = void> {
  private queue: Array<Pending<T, R>> = [];
  private running = false;

  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Start on the next turn of the event loop, so that items arriving in
        // the same turn (a burst of deliveries from one socket read) share the
        // first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const results = await this.flush(
            batch.map((pending) => pending.item),
          );
          batch.forEach((pending, index) => pending.resolve(results[index]));
        } catch (error) {
          batch.forEach((pending) => pending.reject(error));
        }
      }
    } finally {
      this.running = false;
    }
  }
}
