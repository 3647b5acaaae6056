import 'reflect-metadata';
import { WorkerConfig, runApp } from '@pipeline/platform';

// The app's modules are imported once tracing has started.
runApp(
  WorkerConfig,
  'image-worker',
  async () => (await import('./worker.app')).startWorkerProcess,
);
