import { removedTotals, retentionCutoffs } from './retention';

describe('retentionCutoffs', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);

  it('gives each kind its own cutoff', () => {
    expect(
      retentionCutoffs({ uploadsS: 60, outputsS: 3600, jobsS: 86_400 }, now),
    ).toEqual({
      uploadsBefore: ago(60),
      outputsBefore: ago(3600),
      jobsBefore: ago(86_400),
    });
  });

  it('keeps for ever what has 0, and job rows by default', () => {
    expect(
      retentionCutoffs({ uploadsS: 0, outputsS: 2_592_000, jobsS: 0 }, now),
    ).toEqual({
      uploadsBefore: null,
      outputsBefore: ago(2_592_000),
      jobsBefore: null,
    });
  });

  it('ends the files no later than their job rows, also files kept for ever otherwise', () => {
    expect(
      retentionCutoffs({ uploadsS: 0, outputsS: 7200, jobsS: 3600 }, now),
    ).toEqual({
      uploadsBefore: ago(3600),
      outputsBefore: ago(3600),
      jobsBefore: ago(3600),
    });
  });

  it.each([-1, 1.5, Number.NaN])(
    'refuses %p as a period, naming it',
    (value) => {
      expect(() =>
        retentionCutoffs({ uploadsS: 1, outputsS: value, jobsS: 0 }, now),
      ).toThrow(`Invalid retention period outputsS: ${value}`);
    },
  );
});

describe('removedTotals', () => {
  it('counts the objects removed and their bytes, not those already gone', () => {
    expect(removedTotals([10, null, 0, 5])).toEqual({ blobs: 3, bytes: 15 });
    expect(removedTotals([])).toEqual({ blobs: 0, bytes: 0 });
  });
});
