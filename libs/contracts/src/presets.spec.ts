import { problemsOf } from '../../../test/support/validation';
import { DEFAULT_PRESETS, parsePresets, resolveRequestedSpec } from './presets';

describe('presets', () => {
  it('the built-in presets are valid jobs', () => {
    expect(parsePresets(JSON.stringify(DEFAULT_PRESETS))).toEqual(
      DEFAULT_PRESETS,
    );
    expect(Object.keys(DEFAULT_PRESETS)).toEqual([
      'thumbnail',
      'web',
      'avatar',
    ]);
  });

  it('reads presets from configuration, naming what is wrong in each', () => {
    expect(
      parsePresets(
        '{"tiny":{"operations":[{"op":"resize","width":16}],"output":{"format":"png"}}}',
      ),
    ).toEqual({
      tiny: {
        operations: [{ op: 'resize', width: 16 }],
        output: { format: 'png' },
      },
    });
    expect(
      problemsOf(() =>
        parsePresets(
          '{"bad":{"operations":[{"op":"explode"}]},"Bad Name":{"operations":[]}}',
        ),
      ),
    ).toEqual([
      expect.stringMatching(
        /^PRESETS\.bad: operations\[0\]\.op "explode" is not a known operation/,
      ),
      'PRESETS: "Bad Name" is not a valid preset name (lower-case letters, digits, - and _)',
    ]);
    expect(problemsOf(() => parsePresets('[1]'))).toEqual([
      'PRESETS must be a JSON object of name → {operations, output}',
    ]);
    expect(problemsOf(() => parsePresets('{oops'))[0]).toMatch(
      /^PRESETS is not valid JSON/,
    );
  });

  it('a request names a preset, and may override its output options', () => {
    expect(
      resolveRequestedSpec(
        { operations: undefined, output: undefined, preset: 'thumbnail' },
        DEFAULT_PRESETS,
      ),
    ).toEqual(DEFAULT_PRESETS.thumbnail);
    expect(
      resolveRequestedSpec(
        { operations: undefined, output: { quality: 50 }, preset: 'thumbnail' },
        DEFAULT_PRESETS,
      ),
    ).toEqual({
      operations: DEFAULT_PRESETS.thumbnail.operations,
      output: { format: 'webp', quality: 50 },
    });
    expect(
      resolveRequestedSpec(
        { operations: [{ op: 'flip' }], output: undefined, preset: undefined },
        DEFAULT_PRESETS,
      ),
    ).toEqual({ operations: [{ op: 'flip' }], output: {} });
  });

  it.each([
    [
      { operations: undefined, output: undefined, preset: 'huge' },
      'preset "huge" is not defined (defined: thumbnail, web, avatar)',
    ],
    [
      { operations: [{ op: 'flip' }], output: undefined, preset: 'web' },
      'give either preset or operations, not both',
    ],
    [
      { operations: undefined, output: 'webp', preset: 'web' },
      'output must be an object',
    ],
    [
      {
        operations: undefined,
        output: { progressive: true, format: 'png' },
        preset: 'web',
      },
      'output.progressive applies to jpeg, not png',
    ],
  ])('refuses %j', (fields, problem) => {
    expect(
      problemsOf(() => resolveRequestedSpec(fields, DEFAULT_PRESETS)),
    ).toEqual([problem]);
  });
});
