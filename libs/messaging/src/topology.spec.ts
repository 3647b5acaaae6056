import { Logger } from '@nestjs/common';
import { PARKED_DELIVERY_LIMIT, Topology } from './topology';

describe('Topology: queue arguments', () => {
  const byQueue = (topology: Topology) =>
    Object.fromEntries(
      topology.declarations.map((d) => [d.queue, d.arguments]),
    );

  it('declares every queue as a quorum queue with an explicit delivery limit', () => {
    const topology = new Topology('p', 5, [1000, 10_000]);
    const queues = byQueue(topology);
    expect(Object.keys(queues).sort()).toEqual([...topology.queues].sort());
    for (const args of Object.values(queues)) {
      expect(args['x-queue-type']).toBe('quorum');
      expect(typeof args['x-delivery-limit']).toBe('number');
    }
    expect(queues['p.jobs']['x-delivery-limit']).toBe(5);
    expect(queues['p.events']['x-delivery-limit']).toBe(5);
    expect(queues['p.jobs.retry.1000ms']['x-delivery-limit']).toBe(5);
    // Parked messages are never dropped by the broker.
    expect(queues['p.jobs.dead']['x-delivery-limit']).toBe(
      PARKED_DELIVERY_LIMIT,
    );
    expect(queues['p.events.dead']['x-delivery-limit']).toBe(
      PARKED_DELIVERY_LIMIT,
    );
  });

  it('leaves the initial group size to the broker unless one is set', () => {
    for (const args of Object.values(byQueue(new Topology('p', 5))))
      expect(args).not.toHaveProperty('x-quorum-initial-group-size');
    for (const args of Object.values(
      byQueue(new Topology('p', 5, [1000], { quorumInitialGroupSize: 0 })),
    ))
      expect(args).not.toHaveProperty('x-quorum-initial-group-size');
    for (const args of Object.values(
      byQueue(new Topology('p', 5, [1000], { quorumInitialGroupSize: 3 })),
    ))
      expect(args['x-quorum-initial-group-size']).toBe(3);
  });
});

/**
 * Runs `body` at once, as an async function would: a throw becomes a rejection.
 */
const settled = <T>(body: () => T): Promise<T> =>
  new Promise((resolve) => resolve(body()));

/**
 * A broker stand-in holding queues with their arguments and refusing, as
 * RabbitMQ does, a declaration that differs.
 */
function fakeBroker(existing: Record<string, Record<string, unknown>>) {
  const queues = new Map(Object.entries(existing));
  const channels: Array<{ closed: boolean }> = [];
  const model = {
    createChannel: () => {
      const state = { closed: false };
      channels.push(state);
      const guard = () => {
        if (state.closed) throw new Error('Channel closed');
      };
      return Promise.resolve({
        on: () => undefined,
        close: () => settled(() => void (state.closed = true)),
        assertExchange: () => settled(guard),
        bindQueue: () => settled(guard),
        checkQueue: (queue: string) =>
          settled(() => {
            guard();
            if (!queues.has(queue)) throw new Error('NOT_FOUND');
          }),
        assertQueue: (
          queue: string,
          options: { arguments: Record<string, unknown> },
        ) =>
          settled(() => {
            guard();
            const current = queues.get(queue);
            if (!current) return void queues.set(queue, options.arguments);
            for (const name of new Set([
              ...Object.keys(current),
              ...Object.keys(options.arguments),
            ])) {
              if (current[name] !== options.arguments[name]) {
                state.closed = true;
                throw new Error(
                  `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg '${name}' for queue '${queue}'"`,
                );
              }
            }
          }),
      });
    },
  };
  return { model: model as never, queues, channels };
}

describe('Topology.declare', () => {
  beforeEach(() =>
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
  );
  afterEach(() => jest.restoreAllMocks());

  it('creates every queue with its arguments', async () => {
    const topology = new Topology('p', 5, [1000], {
      quorumInitialGroupSize: 3,
    });
    const broker = fakeBroker({});
    await topology.declare(broker.model);
    expect(Object.fromEntries(broker.queues)).toEqual(
      Object.fromEntries(
        topology.declarations.map((d) => [d.queue, d.arguments]),
      ),
    );
    expect(broker.channels.every((channel) => channel.closed)).toBe(true);
  });

  it('keeps queues made by an older version (no group size, no limits on delay and dead-letter queues)', async () => {
    const old = new Topology('p', 5, [1000]);
    const existing = Object.fromEntries(
      old.declarations.map((d) => {
        const { 'x-quorum-initial-group-size': _size, ...args } = d.arguments;
        if (d.queue !== 'p.jobs' && d.queue !== 'p.events')
          delete args['x-delivery-limit'];
        return [d.queue, args];
      }),
    );
    const broker = fakeBroker(existing);
    await new Topology('p', 5, [1000], { quorumInitialGroupSize: 3 }).declare(
      broker.model,
    );
    expect(Object.fromEntries(broker.queues)).toEqual(existing);
  });

  it('keeps a queue made with another group size', async () => {
    const broker = fakeBroker({});
    await new Topology('p', 5, [1000], { quorumInitialGroupSize: 5 }).declare(
      broker.model,
    );
    await new Topology('p', 5, [1000], { quorumInitialGroupSize: 3 }).declare(
      broker.model,
    );
    expect(broker.queues.get('p.jobs')?.['x-quorum-initial-group-size']).toBe(
      5,
    );
  });

  it('still refuses any other difference (a changed delivery limit of the jobs queue)', async () => {
    const broker = fakeBroker({});
    await new Topology('p', 5, [1000]).declare(broker.model);
    await expect(
      new Topology('p', 7, [1000]).declare(broker.model),
    ).rejects.toThrow(/inequivalent arg 'x-delivery-limit' for queue 'p.jobs'/);
  });
});
