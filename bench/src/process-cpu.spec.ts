import {
  cpuPerJob,
  CpuGroup,
  formatCpuPerJob,
  postgresPids,
} from './process-cpu';

const groups = (
  overrides: Partial<Record<CpuGroup, number[]>> = {},
): Record<CpuGroup, number[]> => ({
  producer: [],
  workers: [],
  writer: [],
  rabbitmq: [],
  postgres: [],
  ...overrides,
});

describe('cpuPerJob', () => {
  it('turns each group’s ticks between the two snapshots into milliseconds per job', () => {
    const before = new Map([
      [1, 100],
      [2, 50],
      [3, 10],
      [4, 1000],
      [5, 7],
    ]);
    const after = new Map([
      [1, 300],
      [2, 150],
      [3, 60],
      [4, 1100],
      [5, 27],
    ]);
    // 100 ticks a second: producer 200 ticks = 2 s over 100 jobs = 20 ms per
    // job.
    const perJob = cpuPerJob(
      before,
      after,
      groups({ producer: [1], workers: [2, 3], writer: [5], rabbitmq: [4] }),
      100,
      100,
    );
    expect(perJob).toEqual({
      producer: 20,
      workers: 15,
      writer: 2,
      rabbitmq: 10,
      postgres: 0,
      total: 47,
    });
  });

  it('counts a process that started during the phase from zero and leaves out one that is gone', () => {
    const perJob = cpuPerJob(
      new Map([[1, 40]]),
      new Map([[2, 30]]),
      groups({ postgres: [1, 2] }),
      10,
      100,
    );
    expect(perJob.postgres).toBe(30);
  });

  it('counts a reused pid, whose ticks went down, from zero', () => {
    expect(
      cpuPerJob(
        new Map([[9, 500]]),
        new Map([[9, 20]]),
        groups({ writer: [9] }),
        1,
        100,
      ).writer,
    ).toBe(200);
  });

  it('refuses a process in two groups, which would be counted twice', () => {
    expect(() =>
      cpuPerJob(
        new Map(),
        new Map(),
        groups({ producer: [3], postgres: [3] }),
        1,
        100,
      ),
    ).toThrow('process 3 is in two groups');
  });

  it('refuses a job count or a clock rate that is not positive', () => {
    expect(() => cpuPerJob(new Map(), new Map(), groups(), 0, 100)).toThrow(
      'jobs must be a positive integer, got 0',
    );
    expect(() => cpuPerJob(new Map(), new Map(), groups(), 5, 0)).toThrow(
      'ticksPerSecond must be positive, got 0',
    );
  });
});

describe('formatCpuPerJob', () => {
  it('names every group, the total and sharp alone', () => {
    expect(
      formatCpuPerJob(
        {
          producer: 4,
          workers: 5.5,
          writer: 1.25,
          rabbitmq: 2,
          postgres: 1,
          total: 13.75,
        },
        0.8,
      ),
    ).toBe(
      'CPU per job: producer 4.00 ms, workers 5.50 ms, writer 1.25 ms, RabbitMQ 2.00 ms, PostgreSQL 1.00 ms, total 13.75 ms (sharp alone: 0.80 ms per image)',
    );
  });
});

describe('postgresPids', () => {
  it('keeps the server’s own processes and the bench database’s backends, not other tenants’ nor the bench’s poller', () => {
    const activity = [
      { pid: 11, datname: null }, // walwriter
      { pid: 12, datname: 'bench_x' },
      { pid: 13, datname: 'bench_x' },
      { pid: 14, datname: 'other' },
    ];
    expect(
      postgresPids([10, 11, 12, 13, 14, 15], activity, 'bench_x', [13]),
    ).toEqual([10, 11, 12, 15]);
  });
});
