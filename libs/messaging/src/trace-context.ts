import {
  Attributes,
  context,
  Context,
  propagation,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  TextMapGetter,
  trace,
} from '@opentelemetry/api';

/**
 * Spans of the messaging lib: a PRODUCER span for each publish, a CONSUMER
 * span for each message handled. Without a tracer provider (tracing off) these
 * are the API's no-ops.
 */
const tracer = () => trace.getTracer('@pipeline/messaging');

/** amqplib's headers: string values in, anything (of the broker's) out. */
const headerGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => {
    const value = headers[key];
    if (typeof value === 'string') return value;
    return Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
  },
};

/**
 * The W3C trace context (`traceparent`, `tracestate`) of `from` (by default
 * the active one) as AMQP headers; none when tracing is off or no span is
 * active.
 */
export function traceHeaders(
  from: Context = context.active(),
): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(from, headers);
  return headers;
}

/**
 * The context a message's publisher sent in its headers (its publish span as
 * the parent), or the root context when they carry none.
 */
export function contextOfHeaders(
  headers: Record<string, unknown> | undefined,
): Context {
  return propagation.extract(ROOT_CONTEXT, headers ?? {}, headerGetter);
}

/** What a messaging span names: the message and where it goes or came from. */
export interface MessageSpanTarget {
  /** The message's type (the routing key). */
  type: string;
  messageId?: string;
  /** The exchange published to, or the queue consumed. */
  destination: string;
}

function messageAttributes(
  target: MessageSpanTarget,
  operation: 'send' | 'process',
): Attributes {
  return {
    'messaging.system': 'rabbitmq',
    'messaging.operation.type': operation,
    'messaging.destination.name': target.destination,
    'messaging.rabbitmq.destination.routing_key': target.type,
    ...(target.messageId ? { 'messaging.message.id': target.messageId } : {}),
  };
}

/**
 * Runs `work` in a span (active while it runs) that ends with it, marked as
 * an error if it throws.
 */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes },
  work: (span: Span) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  return tracer().startActiveSpan(name, options, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * A publish: `send` is given the headers carrying the PRODUCER span's context,
 * so that the consumer's span becomes its child.
 */
export function inPublishSpan<T>(
  target: MessageSpanTarget,
  send: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  return inSpan(
    `publish ${target.type}`,
    { kind: SpanKind.PRODUCER, attributes: messageAttributes(target, 'send') },
    () => send(traceHeaders()),
  );
}

/**
 * Handling a message: a CONSUMER span whose parent is the publish span its
 * headers name; the handler runs in it, so what it publishes in turn carries
 * the same trace on.
 */
export function inConsumeSpan<T>(
  target: MessageSpanTarget,
  headers: Record<string, unknown> | undefined,
  handle: () => Promise<T>,
): Promise<T> {
  return inSpan(
    `process ${target.type}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: messageAttributes(target, 'process'),
    },
    handle,
    contextOfHeaders(headers),
  );
}
