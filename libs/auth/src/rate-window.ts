/**
 * A fixed counting window: the one `now` falls in, and how long until the next
 * one begins.
 */
export function currentWindow(
  now: number,
  windowMs: number,
): { start: Date; resetInMs: number } {
  const start = now - (now % windowMs);
  return { start: new Date(start), resetInMs: start + windowMs - now };
}

/**
 * Whole seconds to put in Retry-After: never 0, which clients read as "now".
 */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Requests of a key in the fixed window `now` falls in, and in the one before
 * it.
 */
export interface WindowCounts {
  previous: number;
  current: number;
}

/**
 * The requests in the sliding window that ends now, estimated from two fixed
 * windows: all of the current one's, and the share of the previous one's that
 * the sliding window still covers, as if they had come evenly. A burst at the
 * end of one fixed window and another at the start of the next then count
 * together, instead of letting twice the limit through.
 */
export function slidingEstimate(
  counts: WindowCounts,
  elapsedMs: number,
  windowMs: number,
): number {
  return counts.previous * (1 - elapsedMs / windowMs) + counts.current;
}

/**
 * How long until one more request fits under `limit`, from `elapsedMs` into the
 * current window.
 */
export function msUntilAllowed(
  limit: number,
  counts: WindowCounts,
  elapsedMs: number,
  windowMs: number,
): number {
  if (counts.current + 1 <= limit) {
    if (counts.previous === 0) return 0;
    // When enough of the previous window has slid out.
    return Math.max(
      0,
      windowMs * (1 - (limit - counts.current - 1) / counts.previous) -
        elapsedMs,
    );
  }
  // Not in this window: in the next one, this window's requests are the
  // previous ones.
  return (
    windowMs -
    elapsedMs +
    Math.max(0, windowMs * (1 - (limit - 1) / counts.current))
  );
}
