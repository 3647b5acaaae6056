import { Topology } from '@pipeline/messaging';
import { connect } from 'amqplib';
import { Client } from 'pg';

/** Drops a benchmark run's database and deletes its queues and exchanges. */
export async function removeBenchResources(prefix: string): Promise<void> {
  const admin = new Client({
    connectionString: 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${prefix}" WITH (FORCE)`);
  await admin.end();
  const broker = await connect('amqp://guest:guest@127.0.0.1:5672');
  const channel = await broker.createChannel();
  for (const queue of new Topology(prefix, 1).queues)
    await channel.deleteQueue(queue);
  await channel.deleteExchange(prefix);
  await channel.deleteExchange(`${prefix}.dlx`);
  await broker.close();
}
