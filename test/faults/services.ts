import { connect } from 'amqplib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AMQP_URL, waitFor } from '../support/resources';

// Asynchronous on purpose: these commands take seconds, and the load generator (and a proxy)
// run on this process's event loop meanwhile.
const run = promisify(execFile);

const PG_CLUSTER = ['--skip-systemctl-redirect', process.env.TEST_PG_VERSION ?? '15', process.env.TEST_PG_CLUSTER ?? 'main'];
const SERVICE_TIMEOUT_MS = 60_000;

/** Stops RabbitMQ's application (the node keeps running): every connection drops, nothing is accepted. */
export async function stopBroker(): Promise<void> {
  await run('rabbitmqctl', ['-q', 'stop_app']);
}

/** Starts RabbitMQ's application and waits until it accepts AMQP connections again. Harmless when it runs. */
export async function startBroker(): Promise<void> {
  await run('rabbitmqctl', ['-q', 'start_app']);
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

/** Stops PostgreSQL the hard way: no checkpoint, connections cut, as a crash would. */
export async function stopDatabaseServer(): Promise<void> {
  await run('pg_ctlcluster', [...PG_CLUSTER, 'stop', '-m', 'immediate']);
}

async function databaseIsReady(): Promise<boolean> {
  return run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432']).then(
    () => true,
    () => false,
  );
}

/** Starts PostgreSQL (unless it runs) and waits until it accepts connections. */
export async function startDatabaseServer(): Promise<void> {
  // A server still recovering is not ready yet, and refuses a second start: that is no failure.
  let startError: unknown;
  if (!(await databaseIsReady())) await run('pg_ctlcluster', [...PG_CLUSTER, 'start']).catch((error) => (startError = error));
  try {
    await waitFor(async () => ((await databaseIsReady()) ? true : undefined), SERVICE_TIMEOUT_MS, 'PostgreSQL to accept connections');
  } catch (error) {
    throw startError ?? error;
  }
}
