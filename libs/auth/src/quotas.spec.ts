import {
  judgeSubmission,
  QuotaLimits,
  QuotaUsage,
  secondsUntilNextUtcDay,
} from './quotas';

describe('quotas', () => {
  const now = new Date('2026-06-01T23:00:00.000Z');
  const limits: QuotaLimits = {
    storedBytes: 1000,
    jobsPerDay: 10,
    jobsInFlight: 5,
  };
  const usage: QuotaUsage = { storedBytes: 0, jobsToday: 0, jobsInFlight: 0 };

  describe('secondsUntilNextUtcDay', () => {
    it('counts to the next midnight UTC', () => {
      expect(secondsUntilNextUtcDay(now)).toBe(3600);
      expect(secondsUntilNextUtcDay(new Date('2026-06-01T00:00:00.000Z'))).toBe(
        86_400,
      );
      expect(secondsUntilNextUtcDay(new Date('2026-12-31T23:59:59.500Z'))).toBe(
        1,
      );
    });

    it('is never 0', () => {
      expect(secondsUntilNextUtcDay(new Date('2026-06-01T23:59:59.999Z'))).toBe(
        1,
      );
    });
  });

  describe('judgeSubmission', () => {
    it('admits a key within every quota', () => {
      expect(
        judgeSubmission(
          limits,
          { storedBytes: 999, jobsToday: 9, jobsInFlight: 4 },
          1,
          now,
        ),
      ).toBeNull();
    });

    it('refuses with 413 a key that stores as much as its quota, naming it and the figures', () => {
      const refusal = judgeSubmission(
        limits,
        { ...usage, storedBytes: 1000 },
        1,
        now,
      );
      expect(refusal).toMatchObject({ quota: 'storedBytes', status: 413 });
      expect(refusal?.message).toContain('stored-bytes quota');
      expect(refusal?.message).toContain('stores 1000 bytes');
      expect(refusal?.message).toContain('may store 1000');
      expect(refusal?.retryAfterSeconds).toBeUndefined();
    });

    it('refuses with 429 jobs past the day, until the next midnight UTC', () => {
      const refusal = judgeSubmission(
        limits,
        { ...usage, jobsToday: 10 },
        1,
        now,
      );
      expect(refusal).toMatchObject({
        quota: 'jobsPerDay',
        status: 429,
        retryAfterSeconds: 3600,
      });
      expect(refusal?.message).toContain('jobs-per-day quota');
      expect(refusal?.message).toContain('submitted 10 jobs today');
      expect(refusal?.message).toContain('may submit 10 a day');
    });

    it('counts every job of a batch against the day', () => {
      expect(
        judgeSubmission(limits, { ...usage, jobsToday: 7 }, 3, now),
      ).toBeNull();
      expect(
        judgeSubmission(limits, { ...usage, jobsToday: 7 }, 4, now)?.message,
      ).toContain('4 more would pass it');
    });

    it('refuses with 429 past the jobs in flight, asking for a short wait', () => {
      expect(
        judgeSubmission(limits, { ...usage, jobsInFlight: 5 }, 1, now),
      ).toMatchObject({
        quota: 'jobsInFlight',
        status: 429,
        retryAfterSeconds: 5,
      });
    });

    it('names the stored-bytes quota first when several are used up', () => {
      expect(
        judgeSubmission(
          limits,
          { storedBytes: 5000, jobsToday: 50, jobsInFlight: 50 },
          1,
          now,
        )?.quota,
      ).toBe('storedBytes');
      expect(
        judgeSubmission(
          limits,
          { storedBytes: 0, jobsToday: 50, jobsInFlight: 50 },
          1,
          now,
        )?.quota,
      ).toBe('jobsPerDay');
    });

    it('applies no quota that is 0', () => {
      expect(
        judgeSubmission(
          { storedBytes: 0, jobsPerDay: 0, jobsInFlight: 0 },
          { storedBytes: 1e15, jobsToday: 1e9, jobsInFlight: 1e6 },
          100,
          now,
        ),
      ).toBeNull();
    });

    it.each([0, -1, 1.5])('refuses %p jobs to admit', (adding) => {
      expect(() => judgeSubmission(limits, usage, adding, now)).toThrow(
        `Invalid number of jobs to admit: ${adding}`,
      );
    });
  });
});
