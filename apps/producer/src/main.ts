import 'reflect-metadata';
import {
  loadConfig,
  ProducerConfig,
  run,
  startTracing,
} from '@pipeline/platform';

run(async () => {
  const config = loadConfig(ProducerConfig);
  // Before the app's modules load, so that their http and pg are traced.
  await startTracing(config, 'producer');
  const { startProducer } = await import('./producer.app');
  return startProducer(config);
});
