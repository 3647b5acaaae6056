import 'reflect-metadata';
import { ProducerConfig, runApp } from '@pipeline/platform';

// The app's modules are imported once tracing has started.
runApp(
  ProducerConfig,
  'producer',
  async () => (await import('./producer.app')).startProducer,
);
