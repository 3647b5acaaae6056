import { Deadline, ProcessingTimeoutError } from './deadline';

/** A clock the test moves by hand. */
function manualClock(start = 1000): {
  now: () => number;
  advance: (ms: number) => void;
} {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

describe('Deadline', () => {
  it('counts the time left down from the limit, to 0 and never below', () => {
    const clock = manualClock();
    const deadline = Deadline.after(3000, clock.now);
    expect(deadline.remainingMs()).toBe(3000);
    clock.advance(1250);
    expect(deadline.remainingMs()).toBe(1750);
    expect(deadline.expired).toBe(false);
    clock.advance(5000);
    expect(deadline.remainingMs()).toBe(0);
    expect(deadline.expired).toBe(true);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses a limit of %p, naming it',
    (ms) => {
      expect(() => Deadline.after(ms)).toThrow(
        `a deadline needs a positive number of milliseconds (got ${ms})`,
      );
    },
  );

  it("gives sharp the time left in whole seconds, rounded up and at least 1 (sharp's 0 means no limit)", () => {
    const clock = manualClock();
    const deadline = Deadline.after(3000, clock.now);
    expect(deadline.sharpTimeoutSeconds()).toBe(3);
    clock.advance(1);
    expect(deadline.sharpTimeoutSeconds()).toBe(3);
    clock.advance(2100);
    expect(deadline.sharpTimeoutSeconds()).toBe(1);
    clock.advance(10_000);
    expect(deadline.sharpTimeoutSeconds()).toBe(1);
  });

  it('check throws a ProcessingTimeoutError naming the limit and the step only once the time is up', () => {
    const clock = manualClock();
    const deadline = Deadline.after(2500, clock.now);
    expect(() => deadline.check('rendering a watermark')).not.toThrow();
    clock.advance(2500);
    expect(() => deadline.check('rendering a watermark')).toThrow(
      ProcessingTimeoutError,
    );
    expect(() => deadline.check('rendering a watermark')).toThrow(
      "Processing took longer than the job's time limit of 2.5 s (stopped while rendering a watermark)",
    );
  });

  describe('race', () => {
    it('answers with the work when it finishes in time', async () => {
      await expect(
        Deadline.after(1000).race(Promise.resolve('done'), 'processing'),
      ).resolves.toBe('done');
      await expect(
        Deadline.after(1000).race(
          Promise.reject(new Error('broken')),
          'processing',
        ),
      ).rejects.toThrow('broken');
    });

    it('fails at the deadline while the work goes on, and settled() waits for that work to end', async () => {
      const deadline = Deadline.after(50);
      let finish!: () => void;
      let finished = false;
      const work = new Promise<void>((resolve) => (finish = resolve)).then(
        () => {
          finished = true;
        },
      );
      const began = performance.now();
      await expect(deadline.race(work, 'encoding')).rejects.toThrow(
        ProcessingTimeoutError,
      );
      expect(performance.now() - began).toBeGreaterThanOrEqual(45);
      expect(performance.now() - began).toBeLessThan(1000);
      let settled = false;
      const waiting = deadline.settled().then(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(settled).toBe(false);
      finish();
      await waiting;
      expect(finished).toBe(true);
    });

    it('does not start work once the time is up', async () => {
      const clock = manualClock();
      const deadline = Deadline.after(10, clock.now);
      clock.advance(10);
      await expect(
        deadline.race(Promise.resolve(1), 'decoding'),
      ).rejects.toThrow('(stopped while decoding)');
      await expect(deadline.settled()).resolves.toBeUndefined();
    });

    it('settles at once when nothing was cut short', async () => {
      const deadline = Deadline.after(1000);
      await deadline.race(Promise.resolve(1), 'decoding');
      await expect(deadline.settled()).resolves.toBeUndefined();
    });
  });
});
