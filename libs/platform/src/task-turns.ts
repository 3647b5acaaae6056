import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Runs synchronous, CPU-bound tasks one per event-loop turn, in the order they
 * were asked for. Work cut into many such tasks (validating the items of big
 * batches, however many batches arrive at once) then holds up other requests
 * for one task at most: their I/O callbacks run between two tasks.
 */
export class TaskTurns {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => T): Promise<T> {
    const result = this.tail.then(() => nextTurn()).then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
