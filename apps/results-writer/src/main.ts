import 'reflect-metadata';
import { migrate } from '@pipeline/database';
import { AmqpConnection, AmqpTransport } from '@pipeline/messaging';
import { loadConfig, run, startApp, WriterConfig } from '@pipeline/platform';
import { WriterModule } from './writer.module';

run(async () => {
  const config = loadConfig(WriterConfig);
  await migrate({ connectionString: config.DATABASE_URL });
  await startApp({
    name: 'results-writer',
    config,
    module: WriterModule.forRoot(config),
    transport: (app) =>
      new AmqpTransport(app.get(AmqpConnection), {
        consumers: [{ queue: app.get(AmqpConnection).topology.eventsQueue, prefetch: config.WRITER_PREFETCH }],
        retryDelayMs: 2000,
        shutdownGraceMs: 10_000,
      }),
  });
});
