import { JobView, MessageType } from '@pipeline/contracts';
import { Topology } from '@pipeline/messaging';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { adminFetch } from '../support/api-keys';
import { makeImage } from '../support/images';
import { ReceivedSpan, OtlpReceiver, SpanKind } from '../support/otlp-receiver';
import { freePortBlock } from '../support/ports';
import {
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';
import { RunningStack, STACK_PORTS, startStack } from '../support/stack';

/** The one span of `spans` that `matches`, failing with what there was. */
function single(
  spans: ReceivedSpan[],
  what: string,
  matches: (span: ReceivedSpan) => boolean,
): ReceivedSpan {
  const found = spans.filter(matches);
  if (found.length !== 1)
    throw new Error(
      `Expected one ${what}, found ${found.length} among:\n${spans
        .map((s) => `  ${s.service} ${s.name} (kind ${s.kind})`)
        .join('\n')}`,
    );
  return found[0];
}

/** The JSON log lines of the stack's processes that name the job. */
function logLinesAbout(
  stack: RunningStack,
  jobId: string,
): Array<Record<string, unknown>> {
  return stack
    .output()
    .split('\n')
    .filter((line) => line.includes(jobId))
    .flatMap((line) => {
      const [, process, json] = /^\[([\w-]+)\] (\{.*\})$/.exec(line) ?? [];
      if (!json) return [];
      const { message } = JSON.parse(json) as { message: unknown };
      return typeof message === 'object' && message !== null
        ? [{ process: process.replace(/-\d$/, ''), ...message }]
        : [];
    });
}

/**
 * Tracing on (OTEL_EXPORTER_OTLP_ENDPOINT): one job, submitted over HTTP,
 * is one trace across the three apps, exported to a receiver of the test's
 * own; its API view and its log lines name that trace.
 */
describe('traces across the pipeline (separate processes)', () => {
  const prefix = uniqueName('traces');
  const receiver = new OtlpReceiver();
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let stack: RunningStack | undefined;

  beforeAll(async () => {
    const endpoint = await receiver.start();
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    stack = await startStack(
      {
        AMQP_PREFIX: prefix,
        WORKERS: '1',
        DATABASE_URL: database.url,
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: join(folder.path, 'images'),
        LOG_LEVEL: 'debug',
        // Each delivery then publishes two events: started and the outcome.
        STARTED_EVENT_AFTER_MS: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        // Spans are sent within 100 ms, not after the default 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      await freePortBlock(STACK_PORTS),
    );
  });

  afterAll(async () => {
    if (stack) await stack.stop();
    await receiver.stop();
    await deleteTopology(new Topology(prefix, 1));
    await database?.drop();
    await folder?.remove();
  });

  it('follows one job from the request through the queue, the worker and the writer as one trace', async () => {
    const form = new FormData();
    form.append('image', new Blob([await makeImage(400, 300, 'png')]), 'a.png');
    form.append('operations', JSON.stringify([{ op: 'resize', width: 100 }]));
    const accepted = await adminFetch(`${stack!.baseUrl}/v1/jobs`, {
      method: 'POST',
      body: form,
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    const view = await waitFor(async () => {
      const job = (await (
        await adminFetch(`${stack!.baseUrl}/v1/jobs/${id}`)
      ).json()) as JobView;
      return job.status === 'succeeded' ? job : undefined;
    }, 30_000);
    expect(view.traceId).toMatch(/^[0-9a-f]{32}$/);
    const traceId = view.traceId!;

    // Complete once the writer's span of the succeeded event has come in.
    const spans = await waitFor(
      () => {
        const found = receiver.trace(traceId);
        return found.filter(
          (span) =>
            span.service === 'results-writer' &&
            span.kind === SpanKind.consumer,
        ).length >= 2 && found.some((span) => span.name === 'image work')
          ? found
          : undefined;
      },
      20_000,
      'the spans of the job',
    );
    expect(receiver.refused).toEqual([]);
    expect(new Set(spans.map((span) => span.service))).toEqual(
      new Set(['producer', 'image-worker', 'results-writer']),
    );

    const request = single(
      spans,
      'request span',
      (span) =>
        span.service === 'producer' &&
        span.kind === SpanKind.server &&
        span.parentSpanId === '',
    );
    const jobPublish = single(
      spans,
      'job publish',
      (span) =>
        span.service === 'producer' &&
        span.kind === SpanKind.producer &&
        span.name === `publish ${MessageType.imageJob}`,
    );
    expect(jobPublish.parentSpanId).toBe(request.spanId);
    expect(jobPublish.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.message.id': id,
    });
    // The job's row is written inside the request's trace.
    expect(
      spans.some(
        (span) =>
          span.service === 'producer' &&
          span.kind === SpanKind.client &&
          span.scope.includes('pg'),
      ),
    ).toBe(true);

    const processing = single(
      spans,
      'worker consumer span',
      (span) =>
        span.service === 'image-worker' && span.kind === SpanKind.consumer,
    );
    expect(processing.name).toBe(`process ${MessageType.imageJob}`);
    expect(processing.parentSpanId).toBe(jobPublish.spanId);
    const imageWork = single(
      spans,
      'image work',
      (s) => s.name === 'image work',
    );
    expect(imageWork).toMatchObject({
      service: 'image-worker',
      parentSpanId: processing.spanId,
    });
    expect(imageWork.attributes['pipeline.job.id']).toBe(id);

    const eventPublishes = spans.filter(
      (span) =>
        span.service === 'image-worker' && span.kind === SpanKind.producer,
    );
    // started (announced at once) and succeeded.
    expect(eventPublishes).toHaveLength(2);
    for (const publish of eventPublishes) {
      expect(publish.name).toBe(`publish ${MessageType.jobEvent}`);
      expect(publish.parentSpanId).toBe(processing.spanId);
    }
    const recorded = spans.filter(
      (span) =>
        span.service === 'results-writer' && span.kind === SpanKind.consumer,
    );
    expect(recorded.map((span) => span.parentSpanId).sort()).toEqual(
      eventPublishes.map((span) => span.spanId).sort(),
    );

    const lines = logLinesAbout(stack!, id);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ process: 'producer', msg: 'job accepted' }),
        expect.objectContaining({ process: 'worker', msg: 'job succeeded' }),
        expect.objectContaining({ process: 'writer', msg: 'event recorded' }),
      ]),
    );
    for (const line of lines) expect(line).toMatchObject({ traceId });
  });
});
