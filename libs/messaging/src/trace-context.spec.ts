import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  contextOfHeaders,
  inConsumeSpan,
  inPublishSpan,
  traceHeaders,
} from './trace-context';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe('trace context in AMQP headers', () => {
  describe('with tracing off (no SDK registered)', () => {
    it('adds no headers and finds no parent', async () => {
      expect(traceHeaders()).toEqual({});
      const headers = await inPublishSpan(
        { type: 'image.job', destination: 'x' },
        (sent) => Promise.resolve(sent),
      );
      expect(headers).toEqual({});
      const parent = contextOfHeaders({ traceparent: TRACEPARENT });
      expect(trace.getSpanContext(parent)).toBeUndefined();
    });
  });

  describe('with tracing on', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });

    beforeAll(() => {
      context.setGlobalContextManager(
        new AsyncLocalStorageContextManager().enable(),
      );
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
      trace.setGlobalTracerProvider(provider);
    });

    afterAll(async () => {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    });

    beforeEach(() => exporter.reset());

    it('writes the W3C traceparent and tracestate of a context', () => {
      const parent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: TRACE_ID,
        spanId: SPAN_ID,
        traceFlags: 1,
      });
      expect(traceHeaders(parent)).toEqual({ traceparent: TRACEPARENT });
      const withState = propagation.extract(ROOT_CONTEXT, {
        traceparent: TRACEPARENT,
        tracestate: 'vendor=a1',
      });
      expect(traceHeaders(withState)).toEqual({
        traceparent: TRACEPARENT,
        tracestate: 'vendor=a1',
      });
    });

    it('reads the context back from headers, as strings or as the Buffers amqplib may give', () => {
      for (const traceparent of [TRACEPARENT, Buffer.from(TRACEPARENT)]) {
        const spanContext = trace.getSpanContext(
          contextOfHeaders({ traceparent, 'x-tries': 2 }),
        );
        expect(spanContext).toMatchObject({
          traceId: TRACE_ID,
          spanId: SPAN_ID,
          isRemote: true,
        });
      }
      expect(trace.getSpanContext(contextOfHeaders(undefined))).toBeUndefined();
      expect(
        trace.getSpanContext(contextOfHeaders({ traceparent: 'garbage' })),
      ).toBeUndefined();
    });

    it('makes the consumer span a child of the publish span whose headers it got', async () => {
      const sent = await inPublishSpan(
        { type: 'image.job', messageId: 'job-1', destination: 'pipeline' },
        (headers) => Promise.resolve(headers),
      );
      expect(sent.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const seen = await inConsumeSpan(
        { type: 'image.job', messageId: 'job-1', destination: 'pipeline.jobs' },
        sent,
        () => Promise.resolve(trace.getActiveSpan()?.spanContext()),
      );
      const [publish, consume] = exporter.getFinishedSpans();
      expect(publish).toMatchObject({
        name: 'publish image.job',
        kind: SpanKind.PRODUCER,
      });
      expect(publish.attributes).toMatchObject({
        'messaging.system': 'rabbitmq',
        'messaging.message.id': 'job-1',
        'messaging.destination.name': 'pipeline',
      });
      expect(consume).toMatchObject({
        name: 'process image.job',
        kind: SpanKind.CONSUMER,
      });
      expect(consume.parentSpanContext?.spanId).toBe(
        publish.spanContext().spanId,
      );
      expect(consume.spanContext().traceId).toBe(publish.spanContext().traceId);
      // The handler runs in the consumer span.
      expect(seen?.spanId).toBe(consume.spanContext().spanId);
    });

    it('marks a span whose work failed as an error, and passes the error on', async () => {
      await expect(
        inConsumeSpan({ type: 'job.event', destination: 'q' }, {}, () =>
          Promise.reject(new Error('refused')),
        ),
      ).rejects.toThrow('refused');
      const [span] = exporter.getFinishedSpans();
      expect(span.status).toMatchObject({ code: 2, message: 'refused' });
      // No headers: a trace of its own.
      expect(span.parentSpanContext).toBeUndefined();
    });
  });
});
