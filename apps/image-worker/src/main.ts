import 'reflect-metadata';
import { AmqpConnection, AmqpTransport } from '@pipeline/messaging';
import { loadConfig, run, startApp, WorkerConfig } from '@pipeline/platform';
import { WorkerModule } from './worker.module';

run(async () => {
  const config = loadConfig(WorkerConfig);
  await startApp({
    name: `image-worker ${config.WORKER_ID}`,
    config,
    module: WorkerModule.forRoot(config),
    transport: (app) =>
      new AmqpTransport(app.get(AmqpConnection), {
        consumers: [{ queue: app.get(AmqpConnection).topology.jobsQueue, prefetch: config.WORKER_PREFETCH }],
        retryDelayMs: 1000,
        shutdownGraceMs: 25_000,
      }),
  });
});
