import { isStuck } from './job-stuck';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const STUCK_AFTER_MS = 300_000;
const startedAgo = (ms: number) => new Date(NOW - ms).toISOString();

describe('isStuck', () => {
  it('holds for a job the sweeper flagged, whatever its status', () => {
    for (const status of ['queued', 'processing'] as const) {
      const job = { status, startedAt: null, stuckReason: 'nothing moves it' };
      expect(isStuck(job, STUCK_AFTER_MS, NOW)).toBe(true);
    }
  });

  it('holds for a job processing for longer than the threshold only', () => {
    const job = (status: 'processing' | 'succeeded', startedAt: string) => ({
      status,
      startedAt,
      stuckReason: null,
    });
    const over = startedAgo(STUCK_AFTER_MS + 1);
    const under = startedAgo(STUCK_AFTER_MS);
    expect(isStuck(job('processing', over), STUCK_AFTER_MS, NOW)).toBe(true);
    expect(isStuck(job('processing', under), STUCK_AFTER_MS, NOW)).toBe(false);
    expect(isStuck(job('succeeded', over), STUCK_AFTER_MS, NOW)).toBe(false);
  });

  it('does not hold for a queued job, which has not started', () => {
    expect(
      isStuck(
        { status: 'queued', startedAt: null, stuckReason: null },
        STUCK_AFTER_MS,
        NOW,
      ),
    ).toBe(false);
  });
});
