import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeImage } from '../support/images';

export interface LoadOptions {
  ratePerSecond: number;
  /**
   * Large inputs and a costly filter: more work than the workers can keep up
   * with, so a backlog builds and every worker holds a full prefetch of
   * unacknowledged jobs.
   */
  heavy?: boolean;
  /**
   * Most requests awaiting an answer at once; a tick beyond it sends nothing (a
   * client backing off).
   */
  maxInFlight?: number;
  /** Sent as `Authorization: Bearer <apiKey>` with every request. */
  apiKey?: string;
}

/**
 * One request and how it was answered: 0 for no answer at all (refused
 * connection, timeout).
 */
export interface Submission {
  sentAt: number;
  answeredAt: number;
  status: number;
  id?: string;
}

interface Input {
  path: string;
  bytes: Buffer;
}

interface JobRequest {
  operations: object[];
  output: object;
}

const LIGHT_REQUESTS: JobRequest[] = [
  { operations: [{ op: 'resize', width: 120 }], output: {} },
  {
    operations: [{ op: 'resize', width: 160 }, { op: 'grayscale' }],
    output: { format: 'webp', quality: 70 },
  },
  {
    operations: [
      { op: 'rotate', angle: 90 },
      { op: 'resize', width: 100 },
    ],
    output: { format: 'png' },
  },
];
// WebP at its highest effort costs a few hundred milliseconds per image: the
// encoder, not the filters, is the slow part.
const HEAVY_REQUESTS: JobRequest[] = [
  {
    operations: [{ op: 'resize', width: 1200 }],
    output: { format: 'webp', quality: 90, effort: 6 },
  },
];
const REQUEST_TIMEOUT_MS = 20_000;

/**
 * Writes the inputs into the images folder (JSON jobs name them) and keeps
 * their bytes (for uploads).
 */
async function prepareInputs(
  imagesDir: string,
  heavy: boolean,
): Promise<Input[]> {
  const shapes = heavy
    ? [
        { width: 1600, height: 1200, format: 'jpeg' as const },
        { width: 1400, height: 1400, format: 'jpeg' as const },
      ]
    : [
        { width: 240, height: 180, format: 'jpeg' as const },
        { width: 320, height: 240, format: 'png' as const },
        { width: 400, height: 300, format: 'webp' as const },
        { width: 300, height: 400, format: 'jpeg' as const },
      ];
  return Promise.all(
    shapes.map(async ({ width, height, format }, index) => {
      const bytes = await makeImage(width, height, format);
      const path = `load-${index}.${format}`;
      await writeFile(join(imagesDir, path), bytes);
      return { path, bytes };
    }),
  );
}

/**
 * A steady stream of jobs into the producer: mostly JSON jobs naming files in
 * the images folder, every fourth one an upload. Records every answer; a 202 is
 * an accepted job, whose id must end up succeeded or failed. 503s are expected
 * while a dependency is away: those jobs were not accepted, and the stream
 * simply goes on.
 */
export class JobLoad {
  readonly submissions: Submission[] = [];
  readonly accepted: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly listeners: Array<(id: string) => void> = [];
  private timer?: NodeJS.Timeout;
  private sent = 0;

  private constructor(
    private readonly baseUrl: string,
    private readonly inputs: Input[],
    private readonly options: LoadOptions,
  ) {}

  static async prepare(
    baseUrl: string,
    imagesDir: string,
    options: LoadOptions,
  ): Promise<JobLoad> {
    return new JobLoad(
      baseUrl,
      await prepareInputs(imagesDir, options.heavy ?? false),
      options,
    );
  }

  start(): void {
    this.timer ??= setInterval(
      () => this.tick(),
      1000 / this.options.ratePerSecond,
    );
  }

  /** Stops sending and waits for the answers still due. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
  }

  /** Called with each accepted id as soon as its 202 arrives. */
  onAccepted(listener: (id: string) => void): void {
    this.listeners.push(listener);
  }

  /** Jobs accepted out of requests sent at or after `from` (ms timestamp). */
  acceptedSince(from: number): number {
    return this.submissions.filter(
      (submission) => submission.status === 202 && submission.sentAt >= from,
    ).length;
  }

  /**
   * Ids of the jobs accepted out of requests sent between `from` and `to` (ms
   * timestamps).
   */
  acceptedBetween(from: number, to: number): string[] {
    return this.submissions
      .filter(
        (submission) =>
          submission.id && submission.sentAt >= from && submission.sentAt <= to,
      )
      .map((submission) => submission.id!);
  }

  /**
   * Answers to requests sent at or after `from` and answered at or before `to`
   * (ms timestamps).
   */
  answeredWithin(from: number, to: number): Submission[] {
    return this.submissions.filter(
      (submission) => submission.sentAt >= from && submission.answeredAt <= to,
    );
  }

  private tick(): void {
    if (this.inFlight.size >= (this.options.maxInFlight ?? 64)) return;
    const request = this.submit(this.sent++).finally(() =>
      this.inFlight.delete(request),
    );
    this.inFlight.add(request);
  }

  private async submit(n: number): Promise<void> {
    const input = this.inputs[n % this.inputs.length];
    const requests = this.options.heavy ? HEAVY_REQUESTS : LIGHT_REQUESTS;
    const { operations, output } = requests[n % requests.length];
    const sentAt = Date.now();
    let status = 0;
    let id: string | undefined;
    try {
      const response = await fetch(`${this.baseUrl}/v1/jobs`, {
        method: 'POST',
        body: this.body(n, input, operations, output),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        ...this.headers(n),
      });
      status = response.status;
      const answer = (await response.json().catch(() => ({}))) as {
        id?: string;
      };
      if (status === 202) id = answer.id;
    } catch {
      // No answer: the job may or may not exist, but it was never reported
      // accepted.
    }
    this.submissions.push({ sentAt, answeredAt: Date.now(), status, id });
    if (id) {
      this.accepted.push(id);
      for (const listener of this.listeners) listener(id);
    }
  }

  private isUpload(n: number): boolean {
    return n % 4 === 3;
  }

  private headers(n: number): { headers?: Record<string, string> } {
    const headers: Record<string, string> = this.options.apiKey
      ? { authorization: `Bearer ${this.options.apiKey}` }
      : {};
    if (!this.isUpload(n)) headers['content-type'] = 'application/json';
    return Object.keys(headers).length > 0 ? { headers } : {};
  }

  private body(
    n: number,
    input: Input,
    operations: object[],
    output: object,
  ): FormData | string {
    if (!this.isUpload(n))
      return JSON.stringify({
        source: { path: input.path },
        operations,
        output,
      });
    const form = new FormData();
    form.append('image', new Blob([input.bytes]), input.path);
    form.append('operations', JSON.stringify(operations));
    form.append('output', JSON.stringify(output));
    return form;
  }
}
