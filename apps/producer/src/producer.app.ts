import multipart from '@fastify/multipart';
import { ValidationPipe } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { migrate } from '@pipeline/database';
import { ReadinessService } from '@pipeline/health';
import { MetricsServer, ProducerMetrics } from '@pipeline/metrics';
import {
  enterRequestContext,
  ProducerConfig,
  startApp,
} from '@pipeline/platform';
import { ApiExceptionFilter } from './api-exception.filter';
import { ProducerModule } from './producer.module';
import { correlationIdOf } from './request-context';

/** The producer, configured and listening: used by `main` and by the tests. */
export async function startProducer(
  config: ProducerConfig,
): Promise<NestFastifyApplication> {
  await migrate({ connectionString: config.DATABASE_URL });
  return startApp({
    name: 'producer',
    config,
    module: ProducerModule.forRoot(config),
    configure: async (app) => {
      await app.register(multipart, {
        limits: {
          fileSize: config.MAX_UPLOAD_BYTES,
          files: 1,
          fields: 8,
          fieldSize: 1024 * 1024,
          parts: 10,
        },
      });
      app.useGlobalPipes(
        new ValidationPipe({
          transform: true,
          whitelist: true,
          forbidNonWhitelisted: true,
        }),
      );
      app.useGlobalFilters(new ApiExceptionFilter());
      allowOrigins(app, config);
      serveReadiness(app);
      observeRequests(app);
    },
  });
}

/**
 * Closed unless configured: browsers then refuse other sites' pages the
 * answers.
 */
function allowOrigins(app: NestFastifyApplication, config: ProducerConfig) {
  const origins = config.CORS_ORIGINS.split(',').filter(Boolean);
  if (origins.length === 0) return;
  app.enableCors({
    origin: origins,
    allowedHeaders: [
      'Authorization',
      'Content-Type',
      'Idempotency-Key',
      'X-Request-Id',
    ],
    exposedHeaders: [
      'Location',
      'Retry-After',
      'X-Request-Id',
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'RateLimit-Reset',
      'Next-Cursor',
      'Link',
    ],
    maxAge: 600,
  });
}

/**
 * Readiness in detail (which dependency is down) on the port only the cluster
 * reaches.
 */
function serveReadiness(app: NestFastifyApplication): void {
  const readiness = app.get(ReadinessService);
  app.get(MetricsServer).serve('/health/ready', async () => {
    const { ready, detail } = await readiness.report();
    return { status: ready ? 200 : 503, body: detail };
  });
}

/** Every request: its id in the answer and the logs, its duration measured. */
function observeRequests(app: NestFastifyApplication): void {
  const metrics = app.get(ProducerMetrics);
  app
    .getHttpAdapter()
    .getInstance()
    // A crash while serving a request names it (see exitOnUncaughtErrors).
    .addHook('preHandler', enterRequestContext(correlationIdOf))
    .addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id);
    })
    .addHook('onResponse', async (request, reply) => {
      // The route's pattern, not the URL, so that job ids do not become
      // labels.
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.httpRequestDuration.observe(
        { method: request.method, route, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
}
