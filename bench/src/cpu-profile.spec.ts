import { CpuProfile, moduleOf, summariseProfile } from './cpu-profile';

describe('moduleOf', () => {
  it.each([
    ['file:///app/node_modules/pg/lib/client.js', 'query', 'pg'],
    [
      'file:///app/node_modules/@nestjs/core/router/router-proxy.js',
      'x',
      '@nestjs/core',
    ],
    [
      '/app/node_modules/.pnpm/x/node_modules/amqplib/lib/frame.js',
      'x',
      'amqplib',
    ],
    [
      'file:///app/dist/producer/libs/messaging/publisher.js',
      'publish',
      'libs/messaging',
    ],
    ['/app/dist/producer/jobs.controller.js', 'create', 'apps/producer'],
    [
      'node:internal/stream_base_commons',
      'writeGeneric',
      'node:stream_base_commons',
    ],
    ['node:net', 'x', 'node:net'],
    ['', '(garbage collector)', 'GC'],
    ['', '(program)', '(program)'],
    ['', 'writeUtf8String', '(native)'],
  ])('%s %s → %s', (url, functionName, module) => {
    expect(moduleOf(url, functionName)).toBe(module);
  });
});

describe('summariseProfile', () => {
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
      {
        id: 2,
        callFrame: {
          functionName: 'query',
          url: '/a/node_modules/pg/lib/client.js',
          lineNumber: 9,
        },
      },
      {
        id: 3,
        callFrame: {
          functionName: '(garbage collector)',
          url: '',
          lineNumber: -1,
        },
      },
      { id: 4, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      {
        id: 5,
        callFrame: {
          functionName: 'parse',
          url: '/a/node_modules/pg/lib/result.js',
          lineNumber: 0,
        },
      },
    ],
    startTime: 1_000,
    // Sample times 1000, 2000, 5000, 6000, 10000, 11000 µs; each lasts until
    // the next.
    samples: [2, 2, 3, 4, 5, 2],
    timeDeltas: [0, 1_000, 3_000, 1_000, 4_000, 1_000],
  };

  it('adds up self time per function and per module, top first, without idle time', () => {
    const summary = summariseProfile(profile);
    expect(summary.top).toEqual([
      { name: 'query client.js:10', module: 'pg', selfMs: 4 },
      { name: '(garbage collector)', module: 'GC', selfMs: 1 },
      { name: 'parse result.js:1', module: 'pg', selfMs: 1 },
    ]);
    expect(summary.byModule).toEqual([
      { module: 'pg', selfMs: 5 },
      { module: 'GC', selfMs: 1 },
    ]);
    expect(summary.sampledMs).toBe(6);
  });

  it('counts only the samples inside the window', () => {
    const summary = summariseProfile(profile, { fromUs: 4_000, toUs: 10_000 });
    expect(summary.byModule).toEqual([
      { module: 'GC', selfMs: 1 },
      { module: 'pg', selfMs: 1 },
    ]);
  });

  it('keeps the top N functions', () => {
    expect(
      summariseProfile(profile, undefined, 1).top.map((spot) => spot.name),
    ).toEqual(['query client.js:10']);
  });
});
