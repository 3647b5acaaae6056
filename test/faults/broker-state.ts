import { MessageType } from '@pipeline/contracts';
import { connect, GetMessage } from 'amqplib';
import { AMQP_URL } from '../support/resources';
import { testBrokerCtl } from '../support/test-services';

/**
 * The broker's own view, without blocking this process (a load generator runs
 * on its event loop).
 */
const rabbitmqctl = testBrokerCtl;

export interface QueueDepth {
  ready: number;
  unacked: number;
}

function isOurs(prefix: string, name: string | undefined): name is string {
  return name === prefix || (name?.startsWith(`${prefix}.`) ?? false);
}

/**
 * Every queue of the prefix with its ready and unacknowledged messages, as
 * `list_queues` reports them. For quorum queues these are statistics, refreshed
 * every few seconds (`collect_statistics_interval`): they may lag behind, never
 * run ahead.
 */
export async function queueDepths(
  prefix: string,
): Promise<Record<string, QueueDepth>> {
  const depths: Record<string, QueueDepth> = {};
  for (const line of (
    await rabbitmqctl([
      'list_queues',
      'name',
      'messages_ready',
      'messages_unacknowledged',
    ])
  ).split('\n')) {
    const [name, ready, unacked] = line.trim().split(/\s+/);
    if (isOurs(prefix, name))
      depths[name] = { ready: Number(ready), unacked: Number(unacked) };
  }
  return depths;
}

/**
 * Ready messages of the queues, counted by the queues themselves at this moment
 * (a passive declare).
 */
export async function readyMessages(
  queues: string[],
): Promise<Record<string, number>> {
  const connection = await connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const counts: Record<string, number> = {};
    for (const queue of queues)
      counts[queue] = (await channel.checkQueue(queue)).messageCount;
    return counts;
  } finally {
    await connection.close();
  }
}

/** Consumers of each queue, counted by the queues themselves at this moment. */
export async function consumerCounts(
  queues: string[],
): Promise<Record<string, number>> {
  const connection = await connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const counts: Record<string, number> = {};
    for (const queue of queues)
      counts[queue] = (await channel.checkQueue(queue)).consumerCount;
    return counts;
  } finally {
    await connection.close();
  }
}

/** Ready messages of one queue, at this moment. */
export async function readyMessagesOf(queue: string): Promise<number> {
  return (await readyMessages([queue]))[queue];
}

/**
 * What keeps the prefix's queues from counting as drained, or an empty object:
 * every queue must be empty except those in `expected` (a dead-letter queue a
 * scenario fills on purpose), which must hold exactly that many ready messages.
 * Three views must agree: the exact ready counts, no unacknowledged message on
 * any channel of the prefix's connections (channels answer for themselves,
 * without lag), and `list_queues`' statistics once they have caught up.
 */
export async function undrainedQueues(
  prefix: string,
  expected: Record<string, number> = {},
): Promise<Record<string, unknown>> {
  const problems: Record<string, unknown> = {};
  const depths = await queueDepths(prefix);
  for (const [name, depth] of Object.entries(depths)) {
    if (depth.unacked !== 0 || depth.ready !== (expected[name] ?? 0))
      problems[`${name} (list_queues)`] = depth;
  }
  for (const name of Object.keys(expected))
    if (!(name in depths)) problems[name] = 'missing';
  const ready = await readyMessages(Object.keys(depths));
  for (const [name, count] of Object.entries(ready))
    if (count !== (expected[name] ?? 0))
      problems[`${name} (ready now)`] = count;
  const unacked = await unackedOnConnections((name) =>
    name.startsWith(`${prefix} `),
  );
  if (unacked > 0) problems["unacked on the pipeline's channels"] = unacked;
  return problems;
}

/**
 * Messages the broker has handed to the named connection and not yet seen
 * acked.
 */
export async function unackedOnConnection(
  connectionName: string,
): Promise<number> {
  return unackedOnConnections((name) => name === connectionName);
}

/**
 * Messages handed out and not yet acked on the connections whose client-given
 * name passes `matches`.
 */
async function unackedOnConnections(
  matches: (connectionName: string) => boolean,
): Promise<number> {
  const pids = new Set<string>();
  for (const line of (
    await rabbitmqctl(['list_connections', 'pid', 'client_properties'])
  ).split('\n')) {
    const name = /\{"connection_name","([^"]*)"\}/.exec(line)?.[1];
    if (name !== undefined && matches(name))
      pids.add(line.split('\t')[0].trim());
  }
  let unacked = 0;
  for (const line of (
    await rabbitmqctl([
      'list_channels',
      'connection',
      'messages_unacknowledged',
    ])
  ).split('\n')) {
    const [connection, count] = line.trim().split(/\s+/);
    if (pids.has(connection)) unacked += Number(count);
  }
  return unacked;
}

export interface RawMessage {
  body: string | Buffer;
  messageId: string;
}

/**
 * Publishes job messages as the producer does (persistent, confirmed), but with
 * any body at all.
 */
export async function publishJobMessages(
  exchange: string,
  messages: RawMessage[],
): Promise<void> {
  const connection = await connect(AMQP_URL);
  try {
    const channel = await connection.createConfirmChannel();
    // A mandatory message nobody's queue takes comes back before its confirm,
    // which alone would look like success.
    const returned: string[] = [];
    channel.on('return', (message) =>
      returned.push(String(message.properties.messageId)),
    );
    for (const { body, messageId } of messages) {
      channel.publish(exchange, MessageType.imageJob, Buffer.from(body), {
        persistent: true,
        mandatory: true,
        messageId,
        type: MessageType.imageJob,
        contentType: 'application/json',
        timestamp: Math.floor(Date.now() / 1000),
      });
    }
    await channel.waitForConfirms();
    if (returned.length > 0)
      throw new Error(`No queue took the messages ${returned.join(', ')}`);
  } finally {
    await connection.close();
  }
}

/**
 * Looks at every message of a queue without taking any away: they go back when
 * the channel closes.
 */
export async function peekQueue(queue: string): Promise<GetMessage[]> {
  const connection = await connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const messages: GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: false });
      if (message === false) return messages;
      messages.push(message);
    }
  } finally {
    await connection.close();
  }
}
