import {
  DynamicModule,
  Injectable,
  LoggerService,
  OnApplicationShutdown,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  FastifyAdapter,
  NestFastifyApplication,
} from '@nestjs/platform-fastify';
import helmet from 'helmet';
import { randomUUID } from 'node:crypto';
import { exitOnUncaughtErrors } from './crash-report';
import { createLogger } from './logger';
import { redactSecrets } from './redact';
import { SharedConfig } from './settings';
import { loadConfig } from './load-config';
import { startTracing, stopTracing, TracingSettings } from './tracing';

/** Sends the spans still buffered when the app stops (if tracing is on). */
@Injectable()
class TracesFlushedAtShutdown implements OnApplicationShutdown {
  onApplicationShutdown(): Promise<void> {
    return stopTracing();
  }
}

export interface AppStartOptions<
  C extends SharedConfig & { PORT: number; HOST: string },
> {
  name: string;
  config: C;
  module: DynamicModule;
  /** Before the app is built: e.g. migrating its database. */
  prepare?: () => Promise<unknown>;
  /**
   * Before listening: register plugins, pipes, filters; start consuming
   * messages (see the messaging lib's consumeMessages).
   */
  configure?: (app: NestFastifyApplication) => Promise<void> | void;
  bodyLimit?: number;
}

/**
 * Starts an app the same way everywhere: Fastify with security headers
 * (helmet), Nest's logger with secrets redacted, shutdown hooks so SIGTERM and
 * SIGINT drain consumers and close connections, and the HTTP port (API or
 * health) open only once every dependency is connected.
 */
export async function startApp<
  C extends SharedConfig & { PORT: number; HOST: string },
>(options: AppStartOptions<C>): Promise<NestFastifyApplication> {
  await options.prepare?.();
  const logger: LoggerService = createLogger(options.config, options.name);
  const app = await NestFactory.create<NestFastifyApplication>(
    {
      ...options.module,
      providers: [...(options.module.providers ?? []), TracesFlushedAtShutdown],
    },
    new FastifyAdapter({
      bodyLimit: options.bodyLimit,
      // A caller's X-Request-Id (if it is a sane token) follows the request
      // into the logs and messages.
      requestIdHeader: 'x-request-id',
      genReqId: () => randomUUID(),
    }),
    {
      logger,
      bufferLogs: false,
    },
  );
  // Exit 0 once the hooks have drained and closed everything; without the
  // option Nest re-raises the signal, and a clean stop looks like a crash
  // (status 143) to a supervisor.
  app.enableShutdownHooks(undefined, { useProcessExit: true });
  // Built once, not per request (as @fastify/helmet does, parsing the CSP each
  // time).
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      // TLS ends at the ingress or proxy, so the page itself may be plain HTTP
      // inside.
      directives: { upgradeInsecureRequests: null },
    },
  });
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, reply, done) =>
      securityHeaders(request.raw, reply.raw, (error?: unknown) =>
        done(error as Error | undefined),
      ),
    );
  await options.configure?.(app);
  await app.listen(options.config.PORT, options.config.HOST);
  logger.log(`${options.name} listening on ${await app.getUrl()}`);
  return app;
}

/**
 * Runs `main`, reporting a failed start on stderr with exit code 1; from then
 * on, an uncaught exception or unhandled rejection is reported and ends the
 * process (see exitOnUncaughtErrors).
 */
export function run(main: () => Promise<unknown>): void {
  exitOnUncaughtErrors();
  main().catch((error: unknown) => {
    console.error(
      redactSecrets(
        error instanceof Error ? (error.stack ?? error.message) : String(error),
      ),
    );
    process.exit(1);
  });
}

/**
 * An app's entry point: reads its configuration, starts tracing (when it is
 * configured) before the app's own modules load, so that their http and pg
 * are traced, then starts the app `load` imports (as `run` does).
 */
export function runApp<T extends TracingSettings>(
  configClass: new () => T,
  name: string,
  load: () => Promise<(config: T) => Promise<unknown>>,
): void {
  run(async () => {
    const config = loadConfig(configClass);
    await startTracing(config, name);
    const start = await load();
    return start(config);
  });
}
