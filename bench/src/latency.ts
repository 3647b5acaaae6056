/**
 * The latencies the bench measures and the open-loop stream it sends: pure
 * logic, the I/O stays in main.ts.
 */

/**
 * The value at percentile `p` of ascending `sorted` (nearest rank, rounding
 * down), NaN for none.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

/**
 * The middle value (the mean of the two middle ones for an even count), NaN for
 * none.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
}

/** p50, p99 and max of some latencies in whole milliseconds. */
export function summarizeLatencies(
  latencies: readonly number[],
): LatencySummary {
  if (latencies.length === 0)
    throw new Error('summarizeLatencies: no latencies');
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    p50: Math.round(percentile(sorted, 50)),
    p99: Math.round(percentile(sorted, 99)),
    max: Math.round(sorted[sorted.length - 1]),
  };
}

/**
 * How many times the idle latency a steady stream's p99 is: what the stream
 * costs a job over an idle pipeline.
 */
export function p99OverIdle(p99Ms: number, idleMs: number): number {
  return idleMs > 0 ? p99Ms / idleMs : Infinity;
}

/** "p99 at half capacity = 3.4 × idle latency". */
export function formatP99OverIdle(multiple: number): string {
  return `p99 at half capacity = ${Number.isFinite(multiple) ? multiple.toFixed(1) : '∞'} × idle latency`;
}

/**
 * When each job of an open-loop stream is sent, in ms from its start: one every
 * 1/rate s, whether or not the earlier ones were answered, as independent
 * clients would.
 */
export function arrivalOffsetsMs(
  ratePerSecond: number,
  count: number,
): number[] {
  if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond))
    throw new Error(
      `arrivalOffsetsMs: the rate must be a positive number, got ${ratePerSecond}`,
    );
  if (!Number.isInteger(count) || count < 1)
    throw new Error(
      `arrivalOffsetsMs: the count must be a positive integer, got ${count}`,
    );
  return Array.from({ length: count }, (_, i) => (i * 1000) / ratePerSecond);
}

/**
 * How many jobs a stream at `ratePerSecond` sends in `seconds`: at least one.
 */
export function arrivalCount(ratePerSecond: number, seconds: number): number {
  return Math.max(1, Math.round(ratePerSecond * seconds));
}

/**
 * Calls `send(i)` at each offset without waiting for earlier answers, and
 * resolves with every answer in order. A sender that fell behind (a busy event
 * loop) sends what is due at once, so the schedule holds on average; `lateMs`
 * says how far behind it fell at worst.
 */
export async function openLoop<T>(
  offsetsMs: readonly number[],
  send: (index: number) => Promise<T>,
  now: () => number = () => performance.now(),
): Promise<{ answers: T[]; lateMs: number }> {
  const answers: Promise<T>[] = [];
  let lateMs = 0;
  const start = now();
  while (answers.length < offsetsMs.length) {
    const wait = offsetsMs[answers.length] - (now() - start);
    if (wait > 0) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      continue;
    }
    lateMs = Math.max(lateMs, -wait);
    const answer = send(answers.length);
    // A refusal is reported once every job is sent, not as an unhandled
    // rejection meanwhile.
    answer.catch(() => undefined);
    answers.push(answer);
  }
  return { answers: await Promise.all(answers), lateMs };
}

/**
 * Where a job's latency went, from its row: queued (accepted → a worker started
 * it: the producer's publish, the broker, waiting for a worker), processing
 * (started → outcome, the worker's clock), recording (outcome → committed: the
 * event's publish and the writer's batch).
 */
export interface LatencySegments {
  queuedMs: number;
  processingMs: number;
  recordingMs: number;
}

/** p50 and p99 of each segment, in whole milliseconds. */
export function summarizeSegments(
  jobs: readonly LatencySegments[],
): Record<keyof LatencySegments, { p50: number; p99: number }> {
  const of = (key: keyof LatencySegments) => {
    const { p50, p99 } = summarizeLatencies(jobs.map((job) => job[key]));
    return { p50, p99 };
  };
  return {
    queuedMs: of('queuedMs'),
    processingMs: of('processingMs'),
    recordingMs: of('recordingMs'),
  };
}

/** "queued 3/40 ms, processing 8/30 ms, recording 5/60 ms (p50/p99)". */
export function formatSegments(
  segments: ReturnType<typeof summarizeSegments>,
): string {
  const part = (name: string, { p50, p99 }: { p50: number; p99: number }) =>
    `${name} ${p50}/${p99} ms`;
  return `${part('queued', segments.queuedMs)}, ${part('processing', segments.processingMs)}, ${part('recording', segments.recordingMs)} (p50/p99)`;
}
