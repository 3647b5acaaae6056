import { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  allowOnlyDecoders,
  configureSharp,
  InputFormat,
} from '@pipeline/imaging';
import { consumeMessages } from '@pipeline/messaging';
import {
  createLogger,
  scheduleAsBatch,
  startApp,
  WorkerConfig,
} from '@pipeline/platform';
import { WorkerModule } from './worker.module';

/**
 * An image worker, consuming and serving its health endpoints: used by
 * `startWorkerProcess` and by the tests (in their own process, whose scheduling
 * it leaves alone).
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

/**
 * The worker as a process of its own (its entry point): its threads scheduled
 * as WORKER_CPU_SCHEDULING says, for the whole process, then started. A policy
 * the machine refuses is said in the log, and the worker runs all the same.
 */
export async function startWorkerProcess(
  config: WorkerConfig,
): Promise<NestFastifyApplication> {
  if (config.WORKER_CPU_SCHEDULING === 'batch') {
    const problem = await scheduleAsBatch();
    if (problem)
      createLogger(config, 'CpuScheduling').warn(
        `WORKER_CPU_SCHEDULING=batch not applied, the threads keep the default policy: ${problem}`,
      );
  }
  return startWorker(config);
}
