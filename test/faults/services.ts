import { connect } from 'amqplib';
import { AMQP_URL, waitFor } from '../support/resources';
import { testBrokerCtl, testPostgres } from '../support/test-services';

// The run's own broker and database server (test/support/test-services.ts),
// never the machine's. Asynchronous on purpose: these commands take seconds,
// and the load generator (and a proxy) run on this process's event loop
// meanwhile.

const SERVICE_TIMEOUT_MS = 60_000;

/**
 * Stops RabbitMQ's application (the node keeps running): every connection
 * drops, nothing is accepted.
 */
export async function stopBroker(): Promise<void> {
  await testBrokerCtl(['stop_app']);
}

/**
 * Starts RabbitMQ's application and waits until it accepts AMQP connections
 * again. Harmless when it runs.
 */
export async function startBroker(): Promise<void> {
  await testBrokerCtl(['start_app']);
  await waitFor(
    async () => {
      try {
        const connection = await connect(AMQP_URL);
        await connection.close();
        return true;
      } catch {
        return undefined;
      }
    },
    SERVICE_TIMEOUT_MS,
    'RabbitMQ to accept connections',
  );
}

/**
 * Stops PostgreSQL the hard way: no checkpoint, connections cut, as a crash
 * would.
 */
export async function stopDatabaseServer(): Promise<void> {
  await testPostgres().stop();
}

/** Starts PostgreSQL and waits until it accepts connections (pg_ctl -w). */
export async function startDatabaseServer(): Promise<void> {
  await testPostgres().start();
}
