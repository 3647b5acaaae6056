import { dirname } from 'node:path';

/**
 * The folders to flush after `mkdir -p folder` so that `folder` survives a
 * power loss: each one that gained an entry, up to `folder`'s parent (`folder`
 * itself is flushed once the object's name is in it). `firstMade` is what mkdir
 * gives: the topmost folder it made, or undefined when `folder` was there
 * already. In that case its parent is flushed all the same, once: it may have
 * been made by a writer that has not flushed it yet. `root` is the store's own
 * folder, whose entry is its owner's business unless this call made it.
 */
export function foldersToSyncAfterMaking(
  root: string,
  folder: string,
  firstMade: string | undefined,
): string[] {
  if (firstMade === undefined) return folder === root ? [] : [dirname(folder)];
  const folders: string[] = [];
  for (let current = dirname(folder); ; current = dirname(current)) {
    folders.unshift(current);
    if (current === dirname(firstMade) || current === dirname(current))
      return folders;
  }
}

interface Waiters {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function waiters(): Waiters {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  return { promise, resolve, reject };
}

/**
 * Shares flushes of a folder between the writers putting names in it. A flush
 * covers every name put in place before it began, so a caller that asks while
 * one is under way waits for the next, and all who asked meanwhile share that
 * one: a burst of puts into one folder costs two flushes of it rather than one
 * each.
 */
export class GroupSync {
  /** Folders being flushed, with those waiting for the flush after. */
  private readonly underWay = new Map<string, { next?: Waiters }>();

  constructor(private readonly syncNow: (folder: string) => Promise<void>) {}

  /** Settles as a flush of `folder` that began after this call does. */
  after(folder: string): Promise<void> {
    const state = this.underWay.get(folder);
    if (state) return (state.next ??= waiters()).promise;
    this.underWay.set(folder, {});
    return this.begin(folder);
  }

  private begin(folder: string): Promise<void> {
    const flushed = new Promise<void>((resolve) =>
      resolve(this.syncNow(folder)),
    );
    const then = () => {
      const state = this.underWay.get(folder)!;
      const next = state.next;
      if (!next) {
        this.underWay.delete(folder);
        return;
      }
      state.next = undefined;
      this.begin(folder).then(next.resolve, next.reject);
    };
    flushed.then(then, then);
    return flushed;
  }
}
