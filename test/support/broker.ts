import {
  AmqpConnection,
  MessagePublisher,
  Topology,
} from '@pipeline/messaging';
import { Channel, ChannelModel, connect } from 'amqplib';
import { AMQP_URL } from './resources';

/**
 * A test's own side of the broker: the pipeline's publisher, and a plain
 * channel to look at queues.
 */
export interface TestBroker {
  connection: AmqpConnection;
  publisher: MessagePublisher;
  channel: Channel;
  close: () => Promise<void>;
}

export async function connectTestBroker(
  topology: Topology,
): Promise<TestBroker> {
  const connection = new AmqpConnection(
    {
      url: AMQP_URL,
      // The test's own connection is not under test: a slow heartbeat keeps
      // the broker from dropping it while a loaded machine (or a synchronous
      // rabbitmqctl call) holds up the test's event loop for seconds.
      heartbeatSeconds: 60,
      connectionName: `${topology.prefix} test`,
    },
    topology,
  );
  await connection.connect();
  const publisher = new MessagePublisher(connection, 5000);
  await publisher.start();
  const inspector: ChannelModel = await connect(AMQP_URL);
  const channel = await inspector.createChannel();
  return {
    connection,
    publisher,
    channel,
    close: async () => {
      await connection.close();
      await inspector.close();
    },
  };
}
