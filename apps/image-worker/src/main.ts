import 'reflect-metadata';
import {
  loadConfig,
  WorkerConfig,
  run,
  startTracing,
} from '@pipeline/platform';

run(async () => {
  const config = loadConfig(WorkerConfig);
  // Before the app's modules load, so that their http and pg are traced.
  await startTracing(config, 'image-worker');
  const { startWorker } = await import('./worker.app');
  return startWorker(config);
});
