import 'reflect-metadata';
import {
  loadConfig,
  WriterConfig,
  run,
  startTracing,
} from '@pipeline/platform';

run(async () => {
  const config = loadConfig(WriterConfig);
  // Before the app's modules load, so that their http and pg are traced.
  await startTracing(config, 'results-writer');
  const { startWriter } = await import('./writer.app');
  return startWriter(config);
});
