import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { MessageType } from '@pipeline/contracts';
import {
  AmqpConnection,
  AmqpContext,
  AmqpTransport,
  BrokerUnavailableError,
  MessagePublisher,
  NotStartedError,
  PassHandlerErrorsToTransport,
  PermanentMessageError,
  Topology,
  UnroutableMessageError,
} from '@pipeline/messaging';
import { Channel, ChannelModel, GetMessage } from 'amqplib';
import { connectTestBroker, TestBroker } from '../support/broker';
import {
  AMQP_URL,
  deleteTopology,
  dropBrokerConnections,
  rabbitmqctl,
  unackedMessages,
  uniqueName,
  waitFor,
} from '../support/resources';

/** What the test handler saw, and what it should do next. */
const seen: Array<{
  payload: unknown;
  delivery: number;
  tryNumber: number;
  correlationId?: string;
}> = [];
let behaviour: (
  payload: { n: number },
  delivery: number,
) => void | Promise<void> = () => undefined;

@Controller()
class TestHandler {
  @EventPattern(MessageType.imageJob)
  async handle(
    @Payload() payload: { n: number },
    @Ctx() context: AmqpContext,
  ): Promise<void> {
    seen.push({
      payload,
      delivery: context.deliveryNumber,
      tryNumber: context.tryNumber,
      correlationId: context.correlationId,
    });
    await behaviour(payload, context.deliveryNumber);
  }
}

@Module({ controllers: [TestHandler] })
class TestModule {}

describe('RabbitMQ layer (real broker)', () => {
  let topology: Topology;
  let connection: AmqpConnection;
  let publisher: MessagePublisher;
  let broker: TestBroker;
  let channel: Channel;
  let microservice: INestMicroservice | undefined;

  const get = async (queue: string): Promise<GetMessage | undefined> =>
    (await channel.get(queue, { noAck: true })) || undefined;
  const depth = async (queue: string) =>
    (await channel.checkQueue(queue)).messageCount;

  async function startConsumer(
    prefetch = 10,
    maxTries?: number,
  ): Promise<AmqpTransport> {
    const moduleRef = await Test.createTestingModule({
      imports: [TestModule],
    }).compile();
    const transport = new AmqpTransport(connection, {
      consumers: [{ queue: topology.jobsQueue, prefetch, maxTries }],
      requeuePauseMs: 50,
      shutdownGraceMs: 1000,
    });
    microservice = moduleRef.createNestMicroservice({
      strategy: transport,
      logger: false,
    });
    microservice.useGlobalFilters(new PassHandlerErrorsToTransport());
    await microservice.listen();
    return transport;
  }

  /**
   * The channel the transport consumes on. amqplib keeps a connection's open
   * channels in `connection.channels`; the consumer's is the only one with a
   * consumer.
   */
  function consumerChannel(): Channel {
    type Internals = {
      connection: {
        channels: Array<
          | { channel: Channel & { consumers?: Map<string, unknown> } }
          | null
          | undefined
        >;
      };
    };
    const channels = (connection.current as unknown as Internals).connection
      .channels;
    const found = channels.find(
      (entry) => (entry?.channel.consumers?.size ?? 0) > 0,
    );
    if (!found) throw new Error('no consumer channel');
    return found.channel;
  }

  /** Each delivery seen: its delivery and try numbers, its correlation id. */
  const countsSeen = () =>
    seen.map(({ delivery, tryNumber, correlationId }) => [
      delivery,
      tryNumber,
      correlationId,
    ]);

  beforeEach(async () => {
    seen.length = 0;
    behaviour = () => undefined;
    topology = new Topology(uniqueName('amqp'), 3);
    broker = await connectTestBroker(topology);
    ({ connection, publisher, channel } = broker);
  });

  afterEach(async () => {
    await microservice?.close();
    microservice = undefined;
    await broker.close();
    await deleteTopology(topology);
  });

  it('declares durable quorum queues with a delivery limit and at-least-once dead-lettering', () => {
    const line = rabbitmqctl([
      'list_queues',
      'name',
      'durable',
      'type',
      'arguments',
    ])
      .split('\n')
      .find((l) => l.startsWith(`${topology.jobsQueue}\t`));
    expect(line).toBeDefined();
    const [, durable, type, args] = line!.split('\t');
    expect(durable).toBe('true');
    expect(type).toBe('quorum');
    expect(args).toContain('{"x-delivery-limit",3}');
    expect(args).toContain(
      `{"x-dead-letter-exchange","${topology.deadLetterExchange}"}`,
    );
    expect(args).toContain('{"x-dead-letter-strategy","at-least-once"}');
  });

  it('resolves a publish only once confirmed, as a persistent message with its id and type', async () => {
    await publisher.publish(MessageType.imageJob, 'message-1', { n: 1 });
    const message = await get(topology.jobsQueue);
    expect(message).toBeDefined();
    expect(message!.properties.deliveryMode).toBe(2);
    expect(message!.properties.messageId).toBe('message-1');
    expect(message!.properties.type).toBe(MessageType.imageJob);
    expect(JSON.parse(message!.content.toString())).toEqual({ n: 1 });
  });

  it('rejects a publish that no queue takes (mandatory + basic.return)', async () => {
    await channel.unbindQueue(
      topology.jobsQueue,
      topology.exchange,
      MessageType.imageJob,
    );
    await expect(
      publisher.publish(MessageType.imageJob, 'lost', { n: 1 }),
    ).rejects.toBeInstanceOf(UnroutableMessageError);
    // The channel still works for the next publish.
    await expect(
      publisher.publish(MessageType.jobEvent, 'ok', { n: 2 }),
    ).resolves.toBeUndefined();
  });

  it('rejects a publish when not connected, instead of buffering it', async () => {
    await connection.close();
    await expect(
      publisher.publish(MessageType.imageJob, 'x', { n: 1 }),
    ).rejects.toBeInstanceOf(BrokerUnavailableError);
  });

  it('acks a message only after its handler has finished: a crash before that means redelivery', async () => {
    behaviour = (payload) =>
      payload.n === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
    await startConsumer();
    await publisher.publish(MessageType.imageJob, 'stuck', { n: 1 });
    await publisher.publish(MessageType.imageJob, 'quick', { n: 2 });
    await waitFor(() => (seen.length === 2 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await depth(topology.jobsQueue)).toBe(0);
    // The consumer's process "dies": its connection goes away with one handler
    // unfinished.
    await connection.close();
    const back = await waitFor(
      async () => get(topology.jobsQueue),
      10_000,
      'the unacked message to return',
    );
    expect(back.properties.messageId).toBe('stuck');
    expect(back.fields.redelivered).toBe(true);
    expect(await depth(topology.jobsQueue)).toBe(0);
  });

  it('redelivers after a transient failure, counting deliveries', async () => {
    behaviour = (_payload, delivery) => {
      if (delivery === 1) throw new Error('disk hiccup');
    };
    await startConsumer();
    await publisher.publish(MessageType.imageJob, 'retry-me', { n: 7 });
    await waitFor(() => (seen.length === 2 ? true : undefined));
    expect(seen.map((s) => s.delivery)).toEqual([1, 2]);
    expect(await depth(topology.jobsDeadLetterQueue)).toBe(0);
  });

  it('parks permanent failures, non-JSON bodies and unknown types in the dead-letter queue without blocking the queue', async () => {
    behaviour = (payload) => {
      if (payload.n === 1) throw new PermanentMessageError('cannot ever work');
    };
    await startConsumer(1);
    await publisher.publish(MessageType.imageJob, 'permanent', { n: 1 });
    channel.publish(
      topology.exchange,
      MessageType.imageJob,
      Buffer.from('{not json'),
      { type: MessageType.imageJob, messageId: 'garbage', persistent: true },
    );
    channel.publish(
      topology.exchange,
      MessageType.imageJob,
      Buffer.from('{}'),
      { type: 'no.such.type', messageId: 'unknown-type', persistent: true },
    );
    await publisher.publish(MessageType.imageJob, 'fine', { n: 2 });
    await waitFor(
      async () =>
        (await depth(topology.jobsDeadLetterQueue)) === 3 ? true : undefined,
      10_000,
      'three parked messages',
    );
    expect(seen.map((s) => (s.payload as { n: number }).n)).toEqual([1, 2]);
    const parked = [
      await get(topology.jobsDeadLetterQueue),
      await get(topology.jobsDeadLetterQueue),
      await get(topology.jobsDeadLetterQueue),
    ];
    expect(parked.map((m): unknown => m!.properties.messageId).sort()).toEqual([
      'garbage',
      'permanent',
      'unknown-type',
    ]);
    expect(await depth(topology.jobsQueue)).toBe(0);
  });

  it('parks a message that keeps failing once the delivery limit is reached', async () => {
    behaviour = () => {
      throw new Error('always fails');
    };
    await startConsumer();
    await publisher.publish(MessageType.imageJob, 'doomed', { n: 3 });
    await waitFor(
      async () =>
        (await depth(topology.jobsDeadLetterQueue)) === 1 ? true : undefined,
      15_000,
      'the parked message',
    );
    // x-delivery-limit 3: the first delivery plus three redeliveries, then the
    // broker parks it.
    expect(seen.map((s) => s.delivery)).toEqual([1, 2, 3, 4]);
    const parked = await get(topology.jobsDeadLetterQueue);
    expect(parked!.properties.messageId).toBe('doomed');
  });

  it('on close, stops consuming and lets the handler in flight finish and ack', async () => {
    let finished = false;
    behaviour = async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      finished = true;
    };
    await startConsumer();
    await publisher.publish(MessageType.imageJob, 'in-flight', { n: 1 });
    await waitFor(() => (seen.length === 1 ? true : undefined));
    await microservice!.close();
    microservice = undefined;
    expect(finished).toBe(true);
    await publisher.publish(MessageType.imageJob, 'after-close', { n: 2 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen.length).toBe(1);
    expect(await depth(topology.jobsQueue)).toBe(1);
  });

  it('consumes again after the broker cancels its consumer (queue deleted, then declared again)', async () => {
    const transport = await startConsumer();
    await publisher.publish(MessageType.imageJob, 'before', { n: 1 });
    await waitFor(
      () => (seen.length === 1 ? true : undefined),
      10_000,
      'the first message',
    );
    await channel.deleteQueue(topology.jobsQueue);
    await waitFor(
      () => (transport.isConsuming ? undefined : true),
      10_000,
      'the transport to notice the cancelled consumer',
    );
    await topology.declare(connection.current!);
    await publisher.publish(MessageType.imageJob, 'after', { n: 2 });
    await waitFor(
      () => (seen.length === 2 ? true : undefined),
      20_000,
      'the message published after the queue came back',
    );
    expect(seen.map((s) => (s.payload as { n: number }).n)).toEqual([1, 2]);
    expect(transport.isConsuming).toBe(true);
  });

  it('consumes again after the broker closes its channel (a precondition failure on it)', async () => {
    await startConsumer();
    await publisher.publish(MessageType.imageJob, 'before', { n: 1 });
    await waitFor(
      () => (seen.length === 1 ? true : undefined),
      10_000,
      'the first message',
    );
    // The first message's ack is on the wire only once its handler's promise
    // chain has run; closing the channel before that would hand it out again.
    await waitFor(
      async () =>
        (await unackedMessages(topology.jobsQueue)) === 0 ? true : undefined,
      10_000,
      'the first message to be acked',
    );
    const closed = consumerChannel();
    const closedByBroker = new Promise<Error>((resolve) =>
      closed.once('error', resolve),
    );
    // Acking a delivery tag the channel never had: the broker closes the
    // channel (406 PRECONDITION_FAILED).
    closed.ack({ fields: { deliveryTag: 999_999 } } as GetMessage);
    expect((await closedByBroker).message).toContain('PRECONDITION_FAILED');
    await publisher.publish(MessageType.imageJob, 'after', { n: 2 });
    await waitFor(
      () => (seen.length === 2 ? true : undefined),
      20_000,
      'the message published after the channel closed',
    );
    expect(seen.map((s) => (s.payload as { n: number }).n)).toEqual([1, 2]);
    expect(consumerChannel()).not.toBe(closed);
  });

  it('does not lose a message whose delay queue is missing: the copy is refused and the original requeued', async () => {
    behaviour = (_payload, delivery) => {
      if (delivery === 1) throw new Error('disk hiccup');
    };
    await channel.deleteQueue(topology.jobRetryTiers[0].queue);
    await startConsumer(10, 3);
    await publisher.publish(MessageType.imageJob, 'no-delay-queue', { n: 5 });
    await waitFor(
      () => (seen.length === 2 ? true : undefined),
      10_000,
      'the requeued message',
    );
    expect(seen.map((s) => s.delivery)).toEqual([1, 2]);
    await waitFor(
      async () => ((await depth(topology.jobsQueue)) === 0 ? true : undefined),
      5000,
      'the jobs queue to drain',
    );
    expect(await depth(topology.jobsDeadLetterQueue)).toBe(0);
  });

  it('hands back a message it held but did not start without counting a delivery, so stops past the delivery limit do not park it', async () => {
    behaviour = () => {
      throw new NotStartedError('the consumer is stopping');
    };
    await publisher.publish(
      MessageType.imageJob,
      'held',
      { n: 8 },
      'request-8',
    );
    // x-delivery-limit 3: a requeue on each of four stops would have parked it.
    for (let stop = 1; stop <= 4; stop++) {
      await startConsumer(10, 3);
      await waitFor(
        () => (seen.length === stop ? true : undefined),
        10_000,
        `delivery ${stop}`,
      );
      await microservice!.close();
      microservice = undefined;
      expect(await depth(topology.jobsQueue)).toBe(1);
    }
    expect(await depth(topology.jobsDeadLetterQueue)).toBe(0);
    behaviour = () => undefined;
    await startConsumer(10, 3);
    await waitFor(
      () => (seen.length === 5 ? true : undefined),
      10_000,
      'the delivery after the last stop',
    );
    expect(countsSeen()).toEqual(
      Array.from({ length: 5 }, () => [1, 1, 'request-8']),
    );
    await waitFor(
      async () =>
        (await unackedMessages(topology.jobsQueue)) === 0 ? true : undefined,
      10_000,
      'the message to be acked',
    );
    expect(await depth(topology.jobsQueue)).toBe(0);
    expect(await depth(topology.jobsDeadLetterQueue)).toBe(0);
  });

  it('keeps the correlation id on a copy sent to a delay queue, and counts the try', async () => {
    behaviour = (_payload, delivery) => {
      if (delivery === 1) throw new Error('disk hiccup');
    };
    await startConsumer(10, 3);
    await publisher.publish(
      MessageType.imageJob,
      'retried',
      { n: 9 },
      'request-9',
    );
    await waitFor(
      () => (seen.length === 2 ? true : undefined),
      15_000,
      'the try after the delay queue',
    );
    expect(countsSeen()).toEqual([
      [1, 1, 'request-9'],
      [2, 2, 'request-9'],
    ]);
  });

  it('runs each connect hook once per connection, also one registered while the hooks run', async () => {
    const own = new AmqpConnection(
      {
        url: AMQP_URL,
        heartbeatSeconds: 5,
        connectionName: `${topology.prefix} hooks`,
      },
      topology,
    );
    const runs = { outer: [] as ChannelModel[], inner: [] as ChannelModel[] };
    let registered = false;
    await own.onConnect(async (model) => {
      runs.outer.push(model);
      if (registered) return;
      registered = true;
      await own.onConnect((innerModel) =>
        Promise.resolve(void runs.inner.push(innerModel)),
      );
    });
    try {
      await own.connect();
      expect(runs.outer).toHaveLength(1);
      expect(runs.inner).toEqual([runs.outer[0]]);
      expect(await dropBrokerConnections(`${topology.prefix} hooks`)).toBe(1);
      await waitFor(
        () => (runs.outer.length === 2 && own.isConnected ? true : undefined),
        20_000,
        'the reconnect',
      );
      expect(runs.outer[1]).not.toBe(runs.outer[0]);
      expect(runs.inner).toEqual(runs.outer);
    } finally {
      await own.close();
    }
  });
});
