import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { migrate } from '@pipeline/database';
import { consumeMessages } from '@pipeline/messaging';
import { startApp, WriterConfig } from '@pipeline/platform';
import { WriterModule } from './writer.module';

/**
 * The results writer, migrated and consuming: used by `main` and by the tests.
 */
export function startWriter(
  config: WriterConfig,
): Promise<NestFastifyApplication> {
  return startApp({
    name: 'results-writer',
    config,
    module: WriterModule.forRoot(config),
    prepare: () => migrate({ connectionString: config.DATABASE_URL }),
    configure: consumeMessages,
  });
}
