import type {
  ApiKeyView,
  AuditEntryView,
  BulkRetryReport,
  CreateApiKeyRequest,
  CreatedApiKey,
  JobEventView,
  JobView,
  RetryFailedJobsRequest,
  RotateApiKeyRequest,
} from '@pipeline/contracts';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The producer could not be reached at all (not an HTTP error). */
export class ProducerUnreachableError extends Error {}

/**
 * An HTTP answer other than the one expected, with the producer's own message.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface PipelineStatsView {
  jobs: Record<
    'queued' | 'processing' | 'succeeded' | 'failed' | 'stuck',
    number
  >;
  throughput: { perSecond: number; succeeded: number; failed: number };
  queues: {
    jobs: { ready: number; consumers: number };
    deadLetters: { jobs: { ready: number }; events: { ready: number } };
  } | null;
  workers: Array<{
    id: string;
    host: string;
    heartbeatAgeSeconds: number;
    gone: boolean;
    inFlight: number;
    jobsSucceeded: number;
    jobsFailed: number;
  }>;
}

/**
 * Answers 429 (a limit of the key) are waited out this many times, as
 * Retry-After says, before they count as errors; one that asks for longer than
 * MAX_RETRY_AFTER_S (the key's jobs per day, used up until midnight UTC) is an
 * error at once.
 */
const RATE_LIMIT_RETRIES = 30;
const MAX_RETRY_AFTER_S = 60;

/** The producer's HTTP API, as the CLI uses it. */
export class PipelineClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {}

  private async request(
    path: string,
    init: RequestInit = {},
  ): Promise<Response> {
    let response: Response;
    const headers = new Headers(init.headers);
    if (this.apiKey) headers.set('authorization', `Bearer ${this.apiKey}`);
    for (let attempt = 0; ; attempt++) {
      try {
        response = await fetch(new URL(path, this.baseUrl), {
          ...init,
          headers,
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } })
          .cause;
        throw new ProducerUnreachableError(
          `cannot reach the producer at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
        );
      }
      if (response.status !== 429 || attempt >= RATE_LIMIT_RETRIES) break;
      const seconds = Number(response.headers.get('retry-after'));
      if (seconds > MAX_RETRY_AFTER_S) break;
      // The key is past a limit (requests per window, or jobs in flight): wait
      // as told, then send again.
      await response.body?.cancel();
      await new Promise((resolve) =>
        setTimeout(
          resolve,
          1000 * (Number.isFinite(seconds) && seconds > 0 ? seconds : 1),
        ),
      );
    }
    if (!response.ok) {
      const body = (await response.json().catch(() => ({}))) as {
        message?: string | string[];
      };
      const message = Array.isArray(body.message)
        ? body.message.join('; ')
        : (body.message ?? response.statusText);
      const hint =
        response.status === 401 && !this.apiKey
          ? ' (set PIPELINE_API_KEY or pass --api-key)'
          : '';
      throw new ApiError(
        response.status,
        `${init.method ?? 'GET'} ${path}: ${response.status} ${message}${hint}`,
      );
    }
    return response;
  }

  /**
   * Uploads one file as a job; resolves with its id once the producer accepted
   * it.
   */
  async submitFile(
    path: string,
    fields: { operations?: unknown[]; output?: object; preset?: string },
  ): Promise<string> {
    const form = new FormData();
    form.append('image', new Blob([await readFile(path)]), basename(path));
    if (fields.operations)
      form.append('operations', JSON.stringify(fields.operations));
    if (fields.output) form.append('output', JSON.stringify(fields.output));
    if (fields.preset) form.append('preset', fields.preset);
    const response = await this.request('/v1/jobs', {
      method: 'POST',
      body: form,
    });
    return ((await response.json()) as { id: string }).id;
  }

  async job(id: string): Promise<JobView> {
    return (
      await this.request(`/v1/jobs/${encodeURIComponent(id)}`)
    ).json() as Promise<JobView>;
  }

  async events(id: string): Promise<JobEventView[]> {
    return (
      await this.request(`/v1/jobs/${encodeURIComponent(id)}/events`)
    ).json() as Promise<JobEventView[]>;
  }

  async stats(): Promise<PipelineStatsView> {
    return (
      await this.request('/v1/stats')
    ).json() as Promise<PipelineStatsView>;
  }

  async retry(id: string): Promise<{ id: string; attempt: number }> {
    return (
      await this.request(`/v1/jobs/${encodeURIComponent(id)}/retry`, {
        method: 'POST',
      })
    ).json() as Promise<{ id: string; attempt: number }>;
  }

  /** POSTs `body` as JSON and answers the response's JSON. */
  private async postJson<T>(path: string, body: object): Promise<T> {
    const response = await this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return response.json() as Promise<T>;
  }

  retryFailed(request: RetryFailedJobsRequest): Promise<BulkRetryReport> {
    return this.postJson('/v1/jobs/retry-failed', request);
  }

  async cancel(id: string): Promise<JobView> {
    return (
      await this.request(`/v1/jobs/${encodeURIComponent(id)}/cancel`, {
        method: 'POST',
      })
    ).json() as Promise<JobView>;
  }

  createKey(request: CreateApiKeyRequest): Promise<CreatedApiKey> {
    return this.postJson('/v1/keys', request);
  }

  rotateKey(id: string, request: RotateApiKeyRequest): Promise<CreatedApiKey> {
    return this.postJson(`/v1/keys/${encodeURIComponent(id)}/rotate`, request);
  }

  async audit(filter: {
    action?: string;
    limit?: string;
  }): Promise<AuditEntryView[]> {
    const query = new URLSearchParams(
      Object.entries(filter).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    );
    return (
      await this.request(`/v1/audit?${query.toString()}`)
    ).json() as Promise<AuditEntryView[]>;
  }

  async keys(): Promise<ApiKeyView[]> {
    return (await this.request('/v1/keys')).json() as Promise<ApiKeyView[]>;
  }

  async revokeKey(id: string): Promise<ApiKeyView> {
    return (
      await this.request(`/v1/keys/${encodeURIComponent(id)}`, {
        method: 'DELETE',
      })
    ).json() as Promise<ApiKeyView>;
  }

  /**
   * Streams the job's output (or one named output) to `file`; resolves with the
   * bytes written.
   */
  async download(id: string, file: string, name?: string): Promise<number> {
    const path = `/v1/jobs/${encodeURIComponent(id)}/result${name ? `/${encodeURIComponent(name)}` : ''}`;
    const response = await this.request(path);
    let bytes = 0;
    const body = Readable.fromWeb(
      response.body as import('node:stream/web').ReadableStream<Uint8Array>,
    );
    body.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await pipeline(body, createWriteStream(file));
    return bytes;
  }
}
