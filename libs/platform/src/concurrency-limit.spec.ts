import { ConcurrencyLimit } from './concurrency-limit';

/** A task that runs until `finish()` is called, recording when it starts. */
function gatedTask(
  started: string[],
  name: string,
): { task: () => Promise<string>; finish: () => void } {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    task: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ConcurrencyLimit', () => {
  it('runs at most `limit` tasks at once, the rest in the order they came', async () => {
    const limit = new ConcurrencyLimit(2);
    const started: string[] = [];
    const tasks = ['a', 'b', 'c', 'd'].map((name) => gatedTask(started, name));
    const results = tasks.map(({ task }) => limit.run(task));
    await settle();
    expect(started).toEqual(['a', 'b']);
    expect(limit.queued).toBe(2);
    tasks[1].finish();
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);
    tasks[0].finish();
    await settle();
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    tasks[2].finish();
    tasks[3].finish();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd']);
    expect(limit.queued).toBe(0);
  });

  it('frees the slot of a task that fails, and passes its failure on', async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(
      limit.run(() => Promise.reject(new Error('broken image'))),
    ).rejects.toThrow('broken image');
    await expect(limit.run(() => Promise.resolve('next'))).resolves.toBe(
      'next',
    );
  });

  it('a newcomer waits behind those already waiting, even as a slot frees', async () => {
    const limit = new ConcurrencyLimit(1);
    const started: string[] = [];
    const first = gatedTask(started, 'first');
    const second = gatedTask(started, 'second');
    const running = limit.run(first.task);
    const waiting = limit.run(second.task);
    await settle();
    first.finish();
    await running;
    const late = gatedTask(started, 'late');
    const latecomer = limit.run(late.task);
    await settle();
    expect(started).toEqual(['first', 'second']);
    second.finish();
    late.finish();
    await Promise.all([waiting, latecomer]);
    expect(started).toEqual(['first', 'second', 'late']);
  });

  it('once closed, fails the waiting tasks and any new one without running them; the running one finishes', async () => {
    const limit = new ConcurrencyLimit(1);
    const started: string[] = [];
    const running = gatedTask(started, 'running');
    const held = gatedTask(started, 'held');
    const first = limit.run(running.task);
    const second = limit.run(held.task);
    await settle();
    limit.close(() => new Error('stopping'));
    await expect(second).rejects.toThrow('stopping');
    await expect(limit.run(() => Promise.resolve('late'))).rejects.toThrow(
      'stopping',
    );
    expect(limit.queued).toBe(0);
    running.finish();
    expect(await first).toBe('running');
    expect(started).toEqual(['running']);
  });

  it('refuses a limit that is not a whole number from 1', () => {
    expect(() => new ConcurrencyLimit(0)).toThrow(
      'must be a whole number from 1, got 0',
    );
    expect(() => new ConcurrencyLimit(1.5)).toThrow('got 1.5');
  });
});
