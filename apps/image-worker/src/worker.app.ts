import { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  allowOnlyDecoders,
  configureSharp,
  InputFormat,
} from '@pipeline/imaging';
import { consumeMessages } from '@pipeline/messaging';
import { startApp, WorkerConfig } from '@pipeline/platform';
import { WorkerModule } from './worker.module';

/**
 * An image worker, consuming and serving its health endpoints: used by `main`
 * and by the tests.
 */
export function startWorker(
  config: WorkerConfig,
): Promise<NestFastifyApplication> {
  configureSharp();
  allowOnlyDecoders(config.INPUT_FORMATS.split(',') as InputFormat[]);
  return startApp({
    name: `image-worker ${config.WORKER_ID}`,
    config,
    module: WorkerModule.forRoot(config),
    configure: consumeMessages,
  });
}
