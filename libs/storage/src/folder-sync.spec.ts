import { foldersToSyncAfterMaking, GroupSync } from './folder-sync';

describe('foldersToSyncAfterMaking', () => {
  it('flushes the parent of the one folder made', () => {
    expect(
      foldersToSyncAfterMaking(
        '/data',
        '/data/outputs/j.1',
        '/data/outputs/j.1',
      ),
    ).toEqual(['/data/outputs']);
  });

  it("flushes every folder that gained a folder, from the topmost made one's parent down to the folder's parent", () => {
    expect(
      foldersToSyncAfterMaking('/data', '/data/outputs/j.1', '/data/outputs'),
    ).toEqual(['/data', '/data/outputs']);
    expect(
      foldersToSyncAfterMaking('/data/store', '/data/store/a/b', '/data'),
    ).toEqual(['/', '/data', '/data/store', '/data/store/a']);
  });

  it('flushes the parent of a folder found already there, which its maker may not have flushed yet', () => {
    expect(
      foldersToSyncAfterMaking('/data', '/data/outputs/j.1', undefined),
    ).toEqual(['/data/outputs']);
    expect(
      foldersToSyncAfterMaking('/data', '/data/uploads', undefined),
    ).toEqual(['/data']);
  });

  it('leaves the parent of a root found already there alone', () => {
    expect(foldersToSyncAfterMaking('/data', '/data', undefined)).toEqual([]);
  });

  it('flushes the parent of a root it made', () => {
    expect(foldersToSyncAfterMaking('/data', '/data', '/data')).toEqual(['/']);
  });
});

describe('GroupSync', () => {
  /** A flush that finishes when the test says so, and a log of those begun. */
  function controlledSyncs() {
    const begun: Array<{
      folder: string;
      finish: () => void;
      fail: (error: Error) => void;
    }> = [];
    const group = new GroupSync(
      (folder) =>
        new Promise<void>((resolve, reject) => {
          begun.push({ folder, finish: resolve, fail: reject });
        }),
    );
    return { group, begun };
  }

  const settledFlags = (promise: Promise<void>) => {
    const flags = { done: false, error: undefined as unknown };
    promise.then(
      () => (flags.done = true),
      (error: unknown) => (flags.error = error),
    );
    return flags;
  };
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it('begins a flush at once when none is under way', async () => {
    const { group, begun } = controlledSyncs();
    const flushed = settledFlags(group.after('/a'));
    expect(begun.map((sync) => sync.folder)).toEqual(['/a']);
    begun[0].finish();
    await tick();
    expect(flushed.done).toBe(true);
  });

  it('makes a caller who asks while a flush is under way wait for the next one, shared by all who asked meanwhile', async () => {
    const { group, begun } = controlledSyncs();
    const first = settledFlags(group.after('/a'));
    const second = settledFlags(group.after('/a'));
    const third = settledFlags(group.after('/a'));
    expect(begun).toHaveLength(1);
    begun[0].finish();
    await tick();
    expect(first.done).toBe(true);
    // The first flush may have begun before the later callers' names were in
    // place.
    expect(second.done).toBe(false);
    expect(begun).toHaveLength(2);
    begun[1].finish();
    await tick();
    expect([second.done, third.done]).toEqual([true, true]);
    expect(begun).toHaveLength(2);
  });

  it('flushes different folders apart', () => {
    const { group, begun } = controlledSyncs();
    void group.after('/a');
    void group.after('/b');
    expect(begun.map((sync) => sync.folder)).toEqual(['/a', '/b']);
  });

  it('begins afresh once every flush is done', async () => {
    const { group, begun } = controlledSyncs();
    void group.after('/a');
    begun[0].finish();
    await tick();
    void group.after('/a');
    expect(begun).toHaveLength(2);
  });

  it('rejects those who shared a failed flush, and the next caller gets a flush of its own', async () => {
    const { group, begun } = controlledSyncs();
    const failure = new Error('EIO');
    void group.after('/a').catch(() => undefined);
    const second = settledFlags(group.after('/a'));
    const third = settledFlags(group.after('/a'));
    begun[0].finish();
    await tick();
    begun[1].fail(failure);
    await tick();
    expect([second.error, third.error]).toEqual([failure, failure]);
    const fourth = settledFlags(group.after('/a'));
    expect(begun).toHaveLength(3);
    begun[2].finish();
    await tick();
    expect(fourth.done).toBe(true);
  });

  it('turns a flush that throws at once into a rejection', async () => {
    const failure = new Error('EBADF');
    const group = new GroupSync(() => {
      throw failure;
    });
    await expect(group.after('/a')).rejects.toBe(failure);
    await expect(group.after('/a')).rejects.toBe(failure);
  });
});
