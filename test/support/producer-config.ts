import { loadConfig, ProducerConfig } from '@pipeline/platform';
import { TEST_ADMIN_KEY } from './api-keys';
import { AMQP_URL } from './resources';

/**
 * A producer's configuration for a test: loopback, any free ports, the test
 * admin key, the machine's broker.
 */
export function producerTestConfig(
  settings: Record<string, string> & {
    DATABASE_URL: string;
    AMQP_PREFIX: string;
    STORAGE_DIR: string;
    IMAGES_DIR: string;
  },
): ProducerConfig {
  return loadConfig(ProducerConfig, {
    PORT: '0',
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'error',
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    AMQP_URL,
    ...settings,
  });
}
