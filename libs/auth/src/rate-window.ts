/** A fixed counting window: the one `now` falls in, and how long until the next one begins. */
export function currentWindow(now: number, windowMs: number): { start: Date; resetInMs: number } {
  const start = now - (now % windowMs);
  return { start: new Date(start), resetInMs: start + windowMs - now };
}

/** Whole seconds to put in Retry-After: never 0, which clients read as "now". */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
