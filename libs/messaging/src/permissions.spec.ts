import { BROKER_ROLES, brokerPermissions, NO_RESOURCE } from './permissions';
import { Topology } from './topology';

const matches = (pattern: string, name: string) =>
  new RegExp(pattern).test(name);

describe('brokerPermissions', () => {
  const prefix = 'pipe.line';
  const permissions = brokerPermissions(prefix);
  const topology = new Topology(prefix, 5, [1000, 10_000, 60_000]);
  const others = [
    'other.jobs',
    'pipe.line.jobs.extra',
    'pipe.line.jobsx',
    'xpipe.line.jobs',
    'pipeXline.jobs',
    'pipe.line.jobs.retry.ms',
    'pipe.line.jobs.retry.10sms',
    'amq.direct',
  ];

  it('gives each role configure, write and read', () => {
    expect(Object.keys(permissions).sort()).toEqual([...BROKER_ROLES].sort());
    for (const role of BROKER_ROLES)
      expect(Object.keys(permissions[role]).sort()).toEqual([
        'configure',
        'read',
        'write',
      ]);
  });

  it('lets the producer declare and use every exchange and queue of the topology, whatever the retry delays, and nothing else', () => {
    const names = [
      topology.exchange,
      topology.deadLetterExchange,
      ...topology.queues,
      ...new Topology(prefix, 5, [250, 3_600_000]).queues,
    ];
    for (const kind of ['configure', 'write', 'read'] as const) {
      for (const name of names)
        expect([kind, name, matches(permissions.producer[kind], name)]).toEqual(
          [kind, name, true],
        );
      for (const name of [...others, 'amq.default'])
        expect([kind, name, matches(permissions.producer[kind], name)]).toEqual(
          [kind, name, false],
        );
    }
  });

  it('lets the worker configure nothing, consume the jobs queue only, and publish to the exchange and (for retries) the default exchange', () => {
    const { worker } = permissions;
    expect(worker.configure).toBe(NO_RESOURCE);
    for (const name of [
      topology.exchange,
      topology.deadLetterExchange,
      ...topology.queues,
      ...others,
    ])
      expect([name, matches(worker.configure, name)]).toEqual([name, false]);
    expect(
      [
        topology.exchange,
        topology.deadLetterExchange,
        ...topology.queues,
        'amq.default',
        ...others,
      ].filter((name) => matches(worker.write, name)),
    ).toEqual([topology.exchange, 'amq.default']);
    expect(
      [
        topology.exchange,
        topology.deadLetterExchange,
        ...topology.queues,
        ...others,
      ].filter((name) => matches(worker.read, name)),
    ).toEqual([topology.jobsQueue]);
  });

  it('lets the writer configure nothing, consume the events queue only, and publish to the exchange only', () => {
    const { writer } = permissions;
    expect(writer.configure).toBe(NO_RESOURCE);
    for (const name of [topology.exchange, ...topology.queues, ...others])
      expect([name, matches(writer.configure, name)]).toEqual([name, false]);
    expect(
      [
        topology.exchange,
        topology.deadLetterExchange,
        ...topology.queues,
        'amq.default',
        ...others,
      ].filter((name) => matches(writer.write, name)),
    ).toEqual([topology.exchange]);
    expect(
      [
        topology.exchange,
        topology.deadLetterExchange,
        ...topology.queues,
        ...others,
      ].filter((name) => matches(writer.read, name)),
    ).toEqual([topology.eventsQueue]);
  });

  it('escapes the prefix: a dot in it matches a dot only', () => {
    expect(permissions.writer.read).toBe('^(pipe\\.line\\.events)$');
    expect(matches(brokerPermissions('a.b').worker.read, 'aXb.jobs')).toBe(
      false,
    );
  });
});
