/**
 * How long stored things are kept after their job finished, in seconds; 0 keeps
 * them for ever.
 */
export interface RetentionPeriods {
  uploadsS: number;
  outputsS: number;
  jobsS: number;
}

/**
 * For each kind, the finish time before which a finished job's things expire;
 * null: kept for ever.
 */
export interface RetentionCutoffs {
  uploadsBefore: Date | null;
  outputsBefore: Date | null;
  jobsBefore: Date | null;
}

function before(now: Date, seconds: number): Date | null {
  return seconds === 0 ? null : new Date(now.getTime() - seconds * 1000);
}

/**
 * The cutoffs of one expiry pass. A job row is removed only once its files are
 * gone (else nothing would point at them any more), so a job retention shorter
 * than a file retention ends the files at the job's time.
 */
export function retentionCutoffs(
  periods: RetentionPeriods,
  now: Date,
): RetentionCutoffs {
  for (const [name, value] of Object.entries(periods)) {
    if (!Number.isInteger(value) || value < 0)
      throw new Error(
        `Invalid retention period ${name}: ${value} (whole seconds, 0 to keep for ever)`,
      );
  }
  const capped = (seconds: number) =>
    periods.jobsS > 0 && (seconds === 0 || periods.jobsS < seconds)
      ? periods.jobsS
      : seconds;
  return {
    uploadsBefore: before(now, capped(periods.uploadsS)),
    outputsBefore: before(now, capped(periods.outputsS)),
    jobsBefore: before(now, periods.jobsS),
  };
}

/**
 * The bytes of objects that deleteMany removed, and how many there were
 * (objects already gone count for neither).
 */
export function removedTotals(sizes: ReadonlyArray<number | null>): {
  blobs: number;
  bytes: number;
} {
  const removed = sizes.filter((size): size is number => size !== null);
  return {
    blobs: removed.length,
    bytes: removed.reduce((sum, size) => sum + size, 0),
  };
}
