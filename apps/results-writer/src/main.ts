import 'reflect-metadata';
import { WriterConfig, runApp } from '@pipeline/platform';

// The app's modules are imported once tracing has started.
runApp(
  WriterConfig,
  'results-writer',
  async () => (await import('./writer.app')).startWriter,
);
