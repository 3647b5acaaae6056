import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** OTLP's span kinds, as numbers on the wire. */
export const SpanKind = {
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5,
} as const;

/** One span as received, with the service that sent it. */
export interface ReceivedSpan {
  service: string;
  scope: string;
  traceId: string;
  spanId: string;
  /** Empty for a trace's root. */
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

/** An OTLP/JSON attribute value: one of its typed fields. */
type AnyValue = Record<string, unknown>;

interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value: AnyValue }> };
    scopeSpans?: Array<{
      scope?: { name?: string };
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: Array<{ key: string; value: AnyValue }>;
      }>;
    }>;
  }>;
}

function attributesOf(
  list: Array<{ key: string; value: AnyValue }> = [],
): Record<string, unknown> {
  return Object.fromEntries(
    list.map(({ key, value }) => [key, Object.values(value)[0]]),
  );
}

function spansOf(request: ExportRequest): ReceivedSpan[] {
  return (request.resourceSpans ?? []).flatMap((resourceSpan) => {
    const service = String(
      attributesOf(resourceSpan.resource?.attributes)['service.name'],
    );
    return (resourceSpan.scopeSpans ?? []).flatMap((scopeSpan) =>
      (scopeSpan.spans ?? []).map((span) => ({
        service,
        scope: scopeSpan.scope?.name ?? '',
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ?? '',
        name: span.name,
        kind: span.kind,
        attributes: attributesOf(span.attributes),
      })),
    );
  });
}

/**
 * A collector of our own for the tests: takes OTLP/HTTP JSON exports on
 * `/v1/traces` (what the apps' exporter sends) and keeps their spans.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Exports that were not OTLP/JSON trace requests, by what was wrong. */
  readonly refused: string[] = [];
  private server?: Server;

  /** Starts listening on a free loopback port; resolves with the base URL. */
  async start(): Promise<string> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const type = request.headers['content-type'] ?? '';
        if (request.url !== '/v1/traces' || !type.includes('json')) {
          this.refused.push(`${request.method} ${request.url} (${type})`);
          response.writeHead(404).end();
          return;
        }
        try {
          const body = JSON.parse(
            Buffer.concat(chunks).toString('utf8'),
          ) as ExportRequest;
          this.spans.push(...spansOf(body));
        } catch (error) {
          this.refused.push(`not JSON: ${(error as Error).message}`);
          response.writeHead(400).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{}');
      });
    });
    this.server = server;
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
