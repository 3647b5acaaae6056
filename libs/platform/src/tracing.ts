import {
  context,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { SharedConfig } from './settings';

/** The tracing settings every app reads (see SharedConfig). */
export type TracingSettings = Pick<
  SharedConfig,
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
  | 'OTEL_SERVICE_NAME'
  | 'OTEL_BSP_SCHEDULE_DELAY'
>;

/** A started tracer provider: flushes and stops with the app. */
export interface Tracing {
  /** Where spans go. */
  url: string;
  serviceName: string;
  shutdown(): Promise<void>;
}

let started: Tracing | undefined;

/**
 * Where spans are exported over OTLP/HTTP (JSON), or undefined when tracing is
 * off: the traces endpoint as given, or `/v1/traces` under the general one.
 */
export function tracesUrlOf(settings: TracingSettings): string | undefined {
  if (settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    return settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!settings.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  return `${settings.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Starts OpenTelemetry tracing for the app `name` when an OTLP endpoint is
 * set; without one nothing of the SDK is loaded, and the API the libraries
 * call stays a no-op. Call it before the app's modules are loaded (import them
 * dynamically after it): the HTTP and pg instrumentations patch those modules
 * as they are required.
 */
export async function startTracing(
  settings: TracingSettings,
  name: string,
): Promise<Tracing | undefined> {
  const url = tracesUrlOf(settings);
  if (!url || started) return started;
  const serviceName = settings.OTEL_SERVICE_NAME || name;
  const provider = await tracerProvider(
    url,
    serviceName,
    settings.OTEL_BSP_SCHEDULE_DELAY,
  );
  const [
    { AsyncLocalStorageContextManager },
    { W3CTraceContextPropagator },
    { registerInstrumentations },
    { HttpInstrumentation },
    { PgInstrumentation },
  ] = await Promise.all([
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/instrumentation'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-pg'),
  ]);
  context.setGlobalContextManager(
    new AsyncLocalStorageContextManager().enable(),
  );
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  registerInstrumentations({
    instrumentations: [
      // Probes and scrapes are not worth a trace each.
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) =>
          /^\/(health|metrics)\b/.test(request.url ?? ''),
      }),
      // Only queries made for something traced: not the pool's own chatter.
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  // An instrumentation patches a module when it is next required: http is
  // already loaded (the framework needs it), so require it once more now.
  await Promise.all([import('node:http'), import('node:https')]);
  started = { url, serviceName, shutdown: () => provider.shutdown() };
  return started;
}

/**
 * The SDK's tracer provider for the service, exporting in batches over
 * OTLP/HTTP (JSON) to `url`, a batch at most `delayMs` after its first span.
 */
async function tracerProvider(
  url: string,
  serviceName: string,
  delayMs: number,
): Promise<TracerProvider> {
  const [{ resourceFromAttributes }, sdk, { OTLPTraceExporter }] =
    await Promise.all([
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/exporter-trace-otlp-http'),
    ]);
  return new sdk.TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [
      new sdk.BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url }),
        scheduledDelayMillis: delayMs,
      }),
    ],
  });
}

/**
 * Sends the spans still buffered and stops tracing (at the app's shutdown); a
 * no-op when tracing is off.
 */
export async function stopTracing(): Promise<void> {
  await started?.shutdown();
}

/**
 * The trace id of the span being worked in (a request's, a message's), or
 * undefined when tracing is off or no span is active.
 */
export function activeTraceId(): string | undefined {
  const spanContext = trace.getSpanContext(context.active());
  return spanContext && isSpanContextValid(spanContext)
    ? spanContext.traceId
    : undefined;
}
