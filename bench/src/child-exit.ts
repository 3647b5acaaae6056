import { ChildProcess } from 'node:child_process';

/**
 * Resolves once `child` has exited: at once if it already has, since its 'exit'
 * event is past and waiting for it would leave nothing to keep the bench alive,
 * which then ends silently, its database and queues left behind.
 */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
