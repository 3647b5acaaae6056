import { positiveInteger } from './options';

describe('positiveInteger', () => {
  it('reads a whole number within its bounds', () => {
    expect(positiveInteger('jobs', '2000')).toBe(2000);
    expect(positiveInteger('batch', '100', 100)).toBe(100);
  });

  it.each([['0'], ['-3'], ['2.5'], ['many'], [''], [undefined]])(
    'refuses %p, naming the option',
    (value) => {
      expect(() => positiveInteger('rounds', value)).toThrow(
        `--rounds must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}, got ${value}`,
      );
    },
  );

  it('refuses a number above its bound', () => {
    expect(() => positiveInteger('batch', '101', 100)).toThrow(
      '--batch must be an integer from 1 to 100, got 101',
    );
  });
});
