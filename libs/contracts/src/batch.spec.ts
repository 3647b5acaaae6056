import { batchOperationCount, requestedOperationCount } from './batch';

describe('requestedOperationCount', () => {
  const ops = (count: number) =>
    Array.from({ length: count }, () => ({ op: 'flip' }));

  it.each([
    ['no operations', { source: { path: 'a.jpg' } }, 0],
    ['its own', { operations: ops(3) }, 3],
    [
      "its outputs' too",
      {
        operations: ops(32),
        outputs: Array.from({ length: 8 }, (_, i) => ({
          name: `v${i}`,
          operations: ops(32),
        })),
      },
      288,
    ],
    [
      'outputs without operations of their own',
      {
        outputs: [
          { name: 'a', preset: 'thumbnail' },
          { name: 'b', operations: ops(2) },
        ],
      },
      2,
    ],
    ['more than a job may have, as given', { operations: ops(5000) }, 5000],
  ])('counts %s', (_what, item, count) => {
    expect(requestedOperationCount(item)).toBe(count);
  });

  it.each([
    null,
    'text',
    42,
    [ops(3)],
    { operations: 'many' },
    { operations: { length: 1e9 } },
    { outputs: 'x' },
    { outputs: [null, 7, { operations: { length: 1e9 } }] },
  ])(
    'counts nothing it cannot be sure of: %j (validation names the problem)',
    (item) => {
      expect(requestedOperationCount(item)).toBe(0);
    },
  );

  it('adds up a batch', () => {
    expect(
      batchOperationCount([
        { operations: ops(2) },
        'junk',
        { outputs: [{ operations: ops(3) }] },
      ]),
    ).toBe(5);
    expect(batchOperationCount([])).toBe(0);
  });
});
