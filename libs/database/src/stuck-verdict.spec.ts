import { nothingCanMove, stuckReason, SweepEvidence } from './stuck-verdict';

const quiet: SweepEvidence = {
  waitingMessages: 0,
  busyWorkers: 0,
  parkedJobMessages: 0,
};

describe('nothingCanMove', () => {
  it('holds only when no message waits and no worker is busy', () => {
    expect(nothingCanMove(quiet)).toBe(true);
    expect(nothingCanMove({ ...quiet, waitingMessages: 1 })).toBe(false);
    expect(nothingCanMove({ ...quiet, busyWorkers: 1 })).toBe(false);
    // A parked message moves nothing by itself.
    expect(nothingCanMove({ ...quiet, parkedJobMessages: 3 })).toBe(true);
  });
});

describe('stuckReason', () => {
  it('names the gone worker of a processing job', () => {
    expect(
      stuckReason(
        {
          id: 'j',
          status: 'processing',
          workerId: 'worker-2',
          workerGone: true,
        },
        quiet,
      ),
    ).toBe(
      'it was processing on worker worker-2, which is gone, but no job message waits in any queue and no worker is busy. Retry or cancel it.',
    );
  });

  it('says a queued job has no message, and points at parked messages', () => {
    expect(
      stuckReason(
        { id: 'j', status: 'queued', workerId: null, workerGone: false },
        { ...quiet, parkedJobMessages: 2 },
      ),
    ).toBe(
      'it is queued, but no job message waits in any queue and no worker is busy; 2 job message(s) are parked in the dead-letter queue, perhaps its own. Retry or cancel it.',
    );
  });
});
