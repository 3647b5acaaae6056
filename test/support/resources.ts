import { ensureDatabase, migrate } from '@pipeline/database';
import { Topology } from '@pipeline/messaging';
import { connect } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { testBrokerCtl, testBrokerCtlSync } from './test-services';

// The run's own servers, started by Jest's global setup
// (test/support/test-services.ts).
export const AMQP_URL = required('TEST_AMQP_URL');
const PG_BASE = required('TEST_DATABASE_BASE_URL');
export const AMQP_PORT = Number(new URL(AMQP_URL).port || 5672);
export const DATABASE_PORT = Number(new URL(PG_BASE).port || 5432);

function required(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: these tests run under Jest's global setup (jest.config.js), which starts the servers`,
    );
  return value;
}

/**
 * A name no other test run uses: queues, databases and folders are all isolated
 * by it.
 */
export function uniqueName(kind: string): string {
  return `test_${kind}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

/** A fresh, migrated database; `drop` removes it. */
export async function createTestDatabase(): Promise<{
  url: string;
  drop: () => Promise<void>;
}> {
  const name = uniqueName('db');
  const url = `${PG_BASE}/${name}`;
  await ensureDatabase(url);
  await migrate({ connectionString: url });
  return {
    url,
    drop: async () => {
      const admin = new Client({ connectionString: `${PG_BASE}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Deletes every queue and exchange of a test topology. */
export async function deleteTopology(topology: Topology): Promise<void> {
  const connection = await connect(AMQP_URL);
  const channel = await connection.createChannel();
  for (const queue of topology.queues) await channel.deleteQueue(queue);
  await channel.deleteExchange(topology.exchange);
  await channel.deleteExchange(topology.deadLetterExchange);
  await connection.close();
}

export async function makeTempDir(): Promise<{
  path: string;
  remove: () => Promise<void>;
}> {
  const path = await mkdtemp(join(tmpdir(), 'pipeline-test-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Polls until `check` returns (or resolves to) a value, not undefined, or the
 * time is up.
 */
export async function waitFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The broker's own view (queue arguments, consumers), as rabbitmqctl prints it.
 */
export function rabbitmqctl(args: string[]): string {
  return testBrokerCtlSync(args);
}

/**
 * Messages of `queue` delivered and not yet acked, as the broker counts them.
 * Asynchronous: the consumers under test run in the test's own process.
 */
export async function unackedMessages(queue: string): Promise<number> {
  const line = (
    await testBrokerCtl(['list_queues', 'name', 'messages_unacknowledged'])
  )
    .split('\n')
    .find((row) => row.split('\t')[0] === queue);
  return Number(line?.split('\t')[1]);
}

/**
 * Has the broker drop the connections whose client-given name contains `name`
 * (as a network fault would). Asynchronous: a synchronous rabbitmqctl holds up
 * the test's own process, whose connections then miss their heartbeats.
 */
export async function dropBrokerConnections(name: string): Promise<number> {
  const lines = (
    await testBrokerCtl(['list_connections', 'pid', 'client_properties'])
  ).split('\n');
  const pids = lines
    .filter(
      (line) => line.includes(`{"connection_name","`) && line.includes(name),
    )
    .map((line) => line.split('\t')[0]);
  for (const pid of pids)
    await testBrokerCtl(['close_connection', pid, 'dropped by a test']);
  return pids.length;
}
