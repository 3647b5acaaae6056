import { Batcher } from './batcher';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets the event loop turn: the batcher starts its drain with setImmediate. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The outcome of a promise, as data, without an unhandled rejection. */
function settle<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

describe('Batcher', () => {
  it('flushes adds made in the same tick as one batch', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>((items) => {
      batches.push([...items]);
      return Promise.resolve(items.map((item) => item * 10));
    }, 100);
    const results = await Promise.all([
      batcher.add(1),
      batcher.add(2),
      batcher.add(3),
    ]);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(results).toEqual([10, 20, 30]);
  });

  it('does not flush in the same tick as the add', async () => {
    const flush = jest.fn((items: string[]) =>
      Promise.resolve(items.map(() => undefined)),
    );
    const batcher = new Batcher<string>(flush, 10);
    const pending = batcher.add('a');
    await Promise.resolve();
    expect(flush).not.toHaveBeenCalled();
    await pending;
    expect(flush).toHaveBeenCalledTimes(1);
  });

  it('puts items added while a flush runs in the next batch', async () => {
    const batches: string[][] = [];
    const gates: Array<Deferred<void>> = [];
    const batcher = new Batcher<string, string>(async (items) => {
      batches.push([...items]);
      const gate = deferred<void>();
      gates.push(gate);
      await gate.promise;
      return items.map((item) => item.toUpperCase());
    }, 100);

    const first = [batcher.add('a'), batcher.add('b')];
    await nextTurn();
    expect(batches).toEqual([['a', 'b']]);

    // The first flush is still running: these wait.
    const second = [batcher.add('c'), batcher.add('d')];
    await nextTurn();
    expect(batches).toEqual([['a', 'b']]);
    const third = batcher.add('e');

    gates[0].resolve();
    expect(await Promise.all(first)).toEqual(['A', 'B']);
    await nextTurn();
    expect(batches).toEqual([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    gates[1].resolve();
    expect(await Promise.all(second)).toEqual(['C', 'D']);
    expect(await third).toBe('E');
    expect(batches).toHaveLength(2);
  });

  it('respects maxBatch, keeping the order of the items', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>((items) => {
      batches.push([...items]);
      return Promise.resolve(items.map((item) => -item));
    }, 2);
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((item) => batcher.add(item)),
    );
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
    expect(results).toEqual([-1, -2, -3, -4, -5]);
  });

  it('with maxBatch 1 flushes one item at a time', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher<string>((items) => {
      batches.push([...items]);
      return Promise.resolve(items.map(() => undefined));
    }, 1);
    await Promise.all(['x', 'y', 'z'].map((item) => batcher.add(item)));
    expect(batches).toEqual([['x'], ['y'], ['z']]);
  });

  it('rejects exactly the items of a batch whose flush throws, and later batches still work', async () => {
    const failure = new Error('deadlock detected');
    const batches: number[][] = [];
    const batcher = new Batcher<number, string>((items) => {
      batches.push([...items]);
      if (items.includes(3)) return Promise.reject(failure);
      return Promise.resolve(items.map((item) => `ok ${item}`));
    }, 2);
    const outcomes = await Promise.all(
      [1, 2, 3, 4, 5].map((item) => settle(batcher.add(item))),
    );
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
    expect(outcomes).toEqual([
      { ok: true, value: 'ok 1' },
      { ok: true, value: 'ok 2' },
      { ok: false, error: failure },
      { ok: false, error: failure },
      { ok: true, value: 'ok 5' },
    ]);
    // And the batcher keeps working for new work after the failure.
    expect(await batcher.add(6)).toBe('ok 6');
  });

  it('rejects the batch when flush throws synchronously', async () => {
    const batcher = new Batcher<number, number>((items) => {
      if (items[0] === 1) throw new Error('sync failure');
      return Promise.resolve(items);
    }, 10);
    await expect(batcher.add(1)).rejects.toThrow('sync failure');
    expect(await batcher.add(2)).toBe(2);
  });

  it('matches results to items by index, whatever the results are', async () => {
    const batcher = new Batcher<{ id: string }, { id: string; rank: number }>(
      (items) =>
        Promise.resolve(
          items.map((item, index) => ({ id: item.id, rank: index })),
        ),
      10,
    );
    const [c, a, b] = await Promise.all([
      batcher.add({ id: 'c' }),
      batcher.add({ id: 'a' }),
      batcher.add({ id: 'b' }),
    ]);
    expect(c).toEqual({ id: 'c', rank: 0 });
    expect(a).toEqual({ id: 'a', rank: 1 });
    expect(b).toEqual({ id: 'b', rank: 2 });
  });

  it('passes the items themselves to flush', async () => {
    const item = { id: 1 };
    let seen: unknown[] = [];
    const batcher = new Batcher<{ id: number }>((items) => {
      seen = items;
      return Promise.resolve(items.map(() => undefined));
    }, 10);
    await batcher.add(item);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(item);
  });

  it('starts again after going idle', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>((items) => {
      batches.push([...items]);
      return Promise.resolve(items);
    }, 10);
    expect(await batcher.add(1)).toBe(1);
    await nextTurn();
    expect(await Promise.all([batcher.add(2), batcher.add(3)])).toEqual([2, 3]);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('an add made by a caller when its own add resolves joins a new batch', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>((items) => {
      batches.push([...items]);
      return Promise.resolve(items);
    }, 10);
    const chained = batcher.add(1).then(() => batcher.add(2));
    expect(await chained).toBe(2);
    expect(batches).toEqual([[1], [2]]);
  });

  it('never runs two flushes at once', async () => {
    let running = 0;
    let most = 0;
    const batcher = new Batcher<number, number>(async (items) => {
      running += 1;
      most = Math.max(most, running);
      await nextTurn();
      running -= 1;
      return items;
    }, 3);
    const adds: Array<Promise<number>> = [];
    for (let round = 0; round < 4; round++) {
      adds.push(batcher.add(round * 2), batcher.add(round * 2 + 1));
      await nextTurn();
    }
    expect(await Promise.all(adds)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(1);
  });
});
