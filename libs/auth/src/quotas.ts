/**
 * The quotas that apply to a key (its own or the producer's defaults); 0: no
 * limit.
 */
export interface QuotaLimits {
  storedBytes: number;
  jobsPerDay: number;
  jobsInFlight: number;
}

/** What a key holds against its quotas now. */
export interface QuotaUsage {
  storedBytes: number;
  jobsToday: number;
  jobsInFlight: number;
}

/**
 * Why a submission is refused: which quota, the HTTP status, a message with the
 * figures, and when to try again.
 */
export interface QuotaRefusal {
  quota: 'storedBytes' | 'jobsPerDay' | 'jobsInFlight';
  status: 413 | 429;
  message: string;
  /** For a 429: whole seconds until the submission may fit. */
  retryAfterSeconds?: number;
}

/**
 * Seconds until the next UTC midnight, when the day's job count starts again;
 * never 0.
 */
export function secondsUntilNextUtcDay(now: Date): number {
  const next = Date.UTC(
    now.getUTCFullYear(),
    now.getUTCMonth(),
    now.getUTCDate() + 1,
  );
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

/**
 * Whether a key may submit `adding` more jobs, or which quota refuses them.
 * Stored bytes are judged by what the key holds already (an upload's size is
 * known only once it is read): a key at or over its quota stores nothing more
 * until enough of its objects expire.
 */
export function judgeSubmission(
  limits: QuotaLimits,
  usage: QuotaUsage,
  adding: number,
  now: Date,
): QuotaRefusal | null {
  if (!Number.isInteger(adding) || adding < 1)
    throw new Error(
      `Invalid number of jobs to admit: ${adding} (a whole number from 1)`,
    );
  if (limits.storedBytes > 0 && usage.storedBytes >= limits.storedBytes) {
    return {
      quota: 'storedBytes',
      status: 413,
      message: `this API key's stored-bytes quota is used up: it stores ${usage.storedBytes} bytes of uploads and outputs, and may store ${limits.storedBytes}; wait for old ones to expire, or ask an admin for a larger quota`,
    };
  }
  if (limits.jobsPerDay > 0 && usage.jobsToday + adding > limits.jobsPerDay) {
    const wait = secondsUntilNextUtcDay(now);
    const asked = adding === 1 ? 'one more' : `${adding} more`;
    return {
      quota: 'jobsPerDay',
      status: 429,
      message: `this API key's jobs-per-day quota is used up: it submitted ${usage.jobsToday} jobs today (UTC) and may submit ${limits.jobsPerDay} a day, so ${asked} would pass it; the count starts again at midnight UTC, in ${wait} s`,
      retryAfterSeconds: wait,
    };
  }
  if (
    limits.jobsInFlight > 0 &&
    usage.jobsInFlight + adding > limits.jobsInFlight
  ) {
    return {
      quota: 'jobsInFlight',
      status: 429,
      message: `this API key has ${usage.jobsInFlight} jobs queued or processing, and may have at most ${limits.jobsInFlight}; wait for some to finish`,
      retryAfterSeconds: 5,
    };
  }
  return null;
}
