import {
  arrivalCount,
  arrivalOffsetsMs,
  formatP99OverIdle,
  median,
  openLoop,
  p99OverIdle,
  percentile,
  summarizeLatencies,
  summarizeSegments,
  formatSegments,
} from './latency';

describe('percentile', () => {
  it('takes the nearest rank below, and the last value for p100', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(51);
    expect(percentile(sorted, 99)).toBe(100);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
  });

  it('is NaN for no values', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('median', () => {
  it('takes the middle value of an odd count and the mean of the two middle ones of an even count, in any order', () => {
    expect(median([30, 10, 20])).toBe(20);
    expect(median([40, 10, 30, 20])).toBe(25);
    expect(median([])).toBeNaN();
  });

  it('leaves the values it was given in their order', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('summarizeLatencies', () => {
  it('gives p50, p99 and max in whole milliseconds, whatever the order', () => {
    const latencies = Array.from({ length: 200 }, (_, i) => 200 - i + 0.4);
    expect(summarizeLatencies(latencies)).toEqual({
      p50: 101,
      p99: 199,
      max: 200,
    });
  });

  it('refuses no latencies rather than print NaN', () => {
    expect(() => summarizeLatencies([])).toThrow(
      'summarizeLatencies: no latencies',
    );
  });
});

describe('p99OverIdle and formatP99OverIdle', () => {
  it('say how many times the idle latency the p99 at half capacity is', () => {
    expect(p99OverIdle(85, 25)).toBe(3.4);
    expect(formatP99OverIdle(p99OverIdle(85, 25))).toBe(
      'p99 at half capacity = 3.4 × idle latency',
    );
    expect(formatP99OverIdle(p99OverIdle(25, 25))).toBe(
      'p99 at half capacity = 1.0 × idle latency',
    );
  });

  it('do not divide by an idle latency of zero', () => {
    expect(p99OverIdle(5, 0)).toBe(Infinity);
    expect(formatP99OverIdle(p99OverIdle(5, 0))).toBe(
      'p99 at half capacity = ∞ × idle latency',
    );
  });
});

describe('arrivalOffsetsMs', () => {
  it('spaces the jobs 1/rate apart from zero', () => {
    expect(arrivalOffsetsMs(4, 3)).toEqual([0, 250, 500]);
    expect(arrivalOffsetsMs(80, 801)[800]).toBe(10_000);
  });

  it('refuses a rate or count that gives no stream', () => {
    expect(() => arrivalOffsetsMs(0, 3)).toThrow(
      'the rate must be a positive number, got 0',
    );
    expect(() => arrivalOffsetsMs(Number.NaN, 3)).toThrow(
      'the rate must be a positive number, got NaN',
    );
    expect(() => arrivalOffsetsMs(5, 0)).toThrow(
      'the count must be a positive integer, got 0',
    );
  });
});

describe('arrivalCount', () => {
  it('sends rate × seconds jobs, at least one', () => {
    expect(arrivalCount(77.4, 10)).toBe(774);
    expect(arrivalCount(0.01, 10)).toBe(1);
  });
});

describe('openLoop', () => {
  it('sends each job on schedule without waiting for the answers to earlier ones, and gives the answers in order', async () => {
    const sentAt: number[] = [];
    const answered: (() => void)[] = [];
    const start = performance.now();
    const stream = openLoop([0, 20, 40], (i) => {
      sentAt.push(performance.now() - start);
      // No answer comes until every job is sent: a closed loop would stop at
      // the first.
      return new Promise<string>((resolve) =>
        answered.push(() => resolve(`job ${i}`)),
      );
    });
    while (answered.length < 3) await new Promise((r) => setTimeout(r, 5));
    answered.forEach((answer) => answer());
    const { answers } = await stream;
    expect(answers).toEqual(['job 0', 'job 1', 'job 2']);
    expect(sentAt[1]).toBeGreaterThanOrEqual(19);
    expect(sentAt[2]).toBeGreaterThanOrEqual(39);
  });

  it('sends at once what fell due while the sender was held up, and says how late it was', async () => {
    let clock = 0;
    const sentAtClock: number[] = [];
    const { lateMs } = await openLoop(
      [0, 10, 20],
      () => {
        sentAtClock.push(clock);
        clock += 25; // each send holds the event loop for 25 ms
        return Promise.resolve();
      },
      () => clock,
    );
    expect(sentAtClock).toEqual([0, 25, 50]);
    expect(lateMs).toBe(30);
  });

  it('sends the rest after a refusal and then fails with it', async () => {
    const sent: number[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const stream = openLoop([0, 15, 30], (i) => {
        sent.push(i);
        return i === 0
          ? Promise.reject(new Error('refused with 503'))
          : Promise.resolve(i);
      });
      await expect(stream).rejects.toThrow('refused with 503');
      await new Promise((r) => setImmediate(r));
      expect(sent).toEqual([0, 1, 2]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('latency segments', () => {
  it('summarises each segment on its own and says which is which', () => {
    const jobs = Array.from({ length: 100 }, (_, i) => ({
      queuedMs: i,
      processingMs: 10,
      recordingMs: 100 - i,
    }));
    const segments = summarizeSegments(jobs);
    expect(segments).toEqual({
      queuedMs: { p50: 50, p99: 99 },
      processingMs: { p50: 10, p99: 10 },
      recordingMs: { p50: 51, p99: 100 },
    });
    expect(formatSegments(segments)).toBe(
      'queued 50/99 ms, processing 10/10 ms, recording 51/100 ms (p50/p99)',
    );
  });
});
