import { TaskTurns } from './task-turns';

describe('TaskTurns', () => {
  it('runs tasks in order, letting other callbacks run between two tasks', async () => {
    const turns = new TaskTurns();
    const seen: string[] = [];
    let ticking = true;
    const tick = () => {
      seen.push('tick');
      if (ticking) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    // Each task takes longer than a timer's 1 ms, so that the timer is always
    // due after one.
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        turns.run(() => (busy(3), seen.push(`task ${n}`), n * 10)),
      ),
    );
    ticking = false;
    expect(results).toEqual([10, 20, 30, 40]);
    const tasks = seen.filter((entry) => entry.startsWith('task'));
    expect(tasks).toEqual(['task 1', 'task 2', 'task 3', 'task 4']);
    // Never two tasks in a row: the timer's callback had its turn between them.
    const first = seen.indexOf('task 1');
    const between = seen.slice(first, seen.indexOf('task 4') + 1);
    for (let index = 1; index < between.length; index++)
      expect(
        [between[index - 1], between[index]].every((entry) =>
          entry.startsWith('task'),
        ),
      ).toBe(false);
  });

  it('rejects the promise of a task that throws, and runs the next tasks all the same', async () => {
    const turns = new TaskTurns();
    const failing = turns.run(() => {
      throw new Error('invalid item');
    });
    const next = turns.run(() => 'next');
    await expect(failing).rejects.toThrow('invalid item');
    await expect(next).resolves.toBe('next');
  });

  it('does not run a task in the turn it is asked for', async () => {
    const turns = new TaskTurns();
    let ran = false;
    const done = turns.run(() => (ran = true));
    await Promise.resolve();
    expect(ran).toBe(false);
    await done;
    expect(ran).toBe(true);
  });
});
