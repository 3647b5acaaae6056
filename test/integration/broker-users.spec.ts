import {
  applyBrokerUsers,
  brokerPermissions,
  brokerUsers,
  RabbitManagementApi,
  Topology,
} from '@pipeline/messaging';
import { connect } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { LocalCluster, privateLayout } from '../support/local-rabbitmq';

/**
 * The broker users setup (apps/migrator/src/broker-users.ts) against RabbitMQ's
 * management API: a node of the test's own with the management plugin, the
 * machine's broker being left alone.
 */
describe('Broker users through the management API (a RabbitMQ node of its own)', () => {
  let broker: LocalCluster | undefined;
  let managementUrl: string;
  const password = () => randomBytes(18).toString('hex');

  beforeAll(async () => {
    broker = await LocalCluster.start(
      1,
      await privateLayout('mgmt', 1, { management: true }),
    );
    managementUrl = `http://guest:guest@127.0.0.1:${broker.managementPort(broker.nodes[0])}`;
  }, 120_000);

  afterAll(async () => {
    await broker?.stop();
  });

  const amqpUrl = (user: string, secret: string) =>
    `amqp://${user}:${secret}@127.0.0.1:${broker!.nodes[0].amqpPort}`;

  it('creates the producer, worker and writer users with their permissions, and updates them when run again', async () => {
    const prefix = 'mgmt';
    const first = {
      producer: password(),
      worker: password(),
      writer: password(),
    };
    await applyBrokerUsers(
      new RabbitManagementApi(managementUrl),
      '/',
      brokerUsers(prefix, first),
    );

    const listed = await broker!.ctl(broker!.nodes[0], [
      'list_permissions',
      '-p',
      '/',
      '--no-table-headers',
    ]);
    const permissions = brokerPermissions(prefix);
    for (const role of ['producer', 'worker', 'writer'] as const) {
      const line = listed
        .split('\n')
        .find((row) => row.split('\t')[0] === role);
      expect([role, line?.split('\t').slice(1)]).toEqual([
        role,
        [
          permissions[role].configure,
          permissions[role].write,
          permissions[role].read,
        ],
      ]);
    }
    const tags = await broker!.ctl(broker!.nodes[0], [
      'list_users',
      '--no-table-headers',
    ]);
    expect(
      tags
        .split('\n')
        .filter((row) =>
          ['producer', 'worker', 'writer'].includes(row.split('\t')[0]),
        )
        .map((row) => row.split('\t')[1].trim()),
    ).toEqual(['[]', '[]', '[]']);

    // The users work as the apps use them: the producer declares, the worker
    // may not.
    const topology = new Topology(prefix, 5, [100]);
    const producer = await connect(amqpUrl('producer', first.producer));
    await topology.declare(producer);
    await producer.close();
    const worker = await connect(amqpUrl('worker', first.worker));
    worker.on('error', () => undefined);
    await topology.check(worker);
    await expect(
      new Topology('other', 5, [100]).declare(worker),
    ).rejects.toThrow(/ACCESS_REFUSED/);
    await worker.close();

    // Run again with a new worker password: it replaces the old one.
    const second = { ...first, worker: password() };
    await applyBrokerUsers(
      new RabbitManagementApi(managementUrl),
      '/',
      brokerUsers(prefix, second),
    );
    await expect(connect(amqpUrl('worker', first.worker))).rejects.toThrow(
      /ACCESS_REFUSED|403/,
    );
    await (await connect(amqpUrl('worker', second.worker))).close();
  });

  it('says when the administrator credentials are refused, without waiting', async () => {
    const started = Date.now();
    const wrong = managementUrl.replace('guest:guest', 'guest:wrong');
    await expect(
      applyBrokerUsers(
        new RabbitManagementApi(wrong),
        '/',
        brokerUsers('mgmt', {
          producer: password(),
          worker: password(),
          writer: password(),
        }),
      ),
    ).rejects.toThrow(
      /management API at http:\/\/127\.0\.0\.1:\d+ refused the administrator's credentials \(401\) setting user producer/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('says which vhost is missing', async () => {
    await expect(
      applyBrokerUsers(
        new RabbitManagementApi(managementUrl),
        'no-such-vhost',
        brokerUsers('mgmt', {
          producer: password(),
          worker: password(),
          writer: password(),
        }),
      ),
    ).rejects.toThrow(
      /refused setting the permissions of producer in vhost no-such-vhost: answered 4\d\d/,
    );
  });

  it('waits for an API that does not answer yet, then names it', async () => {
    const api = new RabbitManagementApi('http://guest:guest@127.0.0.1:1', 1500);
    await expect(api.putUser('producer', password())).rejects.toThrow(
      /management API at http:\/\/127\.0\.0\.1:1 did not take user producer within 1500 ms/,
    );
  });
});
