import { Logger } from '@nestjs/common';
import { PeriodicTask } from './periodic-task';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PeriodicTask', () => {
  const logger = { warn: jest.fn() } as unknown as Logger;

  it('runs the task every interval until stopped, and waits for the run under way', async () => {
    let runs = 0;
    let finished = 0;
    const task = new PeriodicTask(
      'Sweep',
      10,
      async () => {
        runs++;
        await sleep(30);
        finished++;
      },
      logger,
    );
    task.start();
    await sleep(60);
    await task.stop();
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(finished).toBe(runs);
    await sleep(50);
    expect(runs).toBe(finished);
  });

  it('logs a failed run and tries again next time', async () => {
    const warn = jest.fn();
    let runs = 0;
    const task = new PeriodicTask(
      'Retention sweep',
      5,
      () => (++runs === 1 ? Promise.reject(new Error('db away')) : sleep(1)),
      { warn } as unknown as Logger,
    );
    task.start();
    while (runs < 2) await sleep(5);
    await task.stop();
    expect(warn).toHaveBeenCalledWith(
      'Retention sweep failed, trying again next time: db away',
    );
  });

  it('never runs with an interval of 0', async () => {
    const run = jest.fn(() => Promise.resolve());
    const task = new PeriodicTask('Sweep', 0, run, logger);
    task.start();
    await sleep(20);
    await task.stop();
    expect(run).not.toHaveBeenCalled();
  });
});
