import 'reflect-metadata';
import {
  applyBrokerUsers,
  brokerUsers,
  RabbitManagementApi,
} from '@pipeline/messaging';
import { BrokerUsersConfig, loadConfig, run } from '@pipeline/platform';

/**
 * Creates (or updates) the broker users producer, worker and writer, each with
 * only the permissions it needs, then exits; run with the broker
 * administrator's credentials before the apps start (docker compose and the
 * Helm chart do).
 */
run(async () => {
  const config = loadConfig(BrokerUsersConfig);
  const users = brokerUsers(config.AMQP_PREFIX, {
    producer: config.RABBITMQ_PRODUCER_PASSWORD,
    worker: config.RABBITMQ_WORKER_PASSWORD,
    writer: config.RABBITMQ_WRITER_PASSWORD,
  });
  await applyBrokerUsers(
    new RabbitManagementApi(config.RABBITMQ_MANAGEMENT_URL),
    config.RABBITMQ_VHOST,
    users,
  );
  console.log(
    `Broker users ${users.map((user) => user.name).join(', ')} set in vhost ${config.RABBITMQ_VHOST} for prefix ${config.AMQP_PREFIX}`,
  );
});
