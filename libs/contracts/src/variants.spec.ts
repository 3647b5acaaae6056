import { problemsOf } from '../../../test/support/validation';
import { parseImageJobMessage } from './messages';
import { DEFAULT_PRESETS, resolveRequestedSpec } from './presets';
import { MAX_VARIANTS, parseVariantSpecs } from './variants';

const request = (fields: {
  operations?: unknown;
  output?: unknown;
  preset?: unknown;
  outputs?: unknown;
}) =>
  resolveRequestedSpec(
    {
      operations: fields.operations,
      output: fields.output,
      preset: fields.preset,
      outputs: fields.outputs,
    },
    DEFAULT_PRESETS,
  );

describe('variants (outputs)', () => {
  it('reads each output with its operations or preset and its own output options', () => {
    const spec = request({
      operations: [{ op: 'rotate', angle: 90 }],
      outputs: [
        { name: 'thumb', preset: 'thumbnail', format: 'avif' },
        {
          name: 'large',
          operations: [{ op: 'resize', width: 1600, fit: 'inside' }],
          format: 'jpeg',
          quality: 70,
          progressive: true,
        },
        { name: 'original' },
      ],
    });
    expect(spec).toEqual({
      operations: [{ op: 'rotate', angle: 90 }],
      output: {},
      variants: [
        {
          name: 'thumb',
          operations: DEFAULT_PRESETS.thumbnail.operations,
          output: { format: 'avif', quality: 80 },
        },
        {
          name: 'large',
          operations: [{ op: 'resize', width: 1600, fit: 'inside' }],
          output: { format: 'jpeg', quality: 70, progressive: true },
        },
        { name: 'original', operations: [], output: {} },
      ],
    });
  });

  it('names what is wrong in each output', () => {
    expect(
      problemsOf(() =>
        request({
          outputs: [
            { name: 'a', operations: [{ op: 'explode' }] },
            { name: 'a', format: 'bmp' },
            { name: 'Big Name', lossless: true, format: 'jpeg' },
            { name: 'b', preset: 'nope' },
            { name: 'c', output: { format: 'png' } },
            'thumb',
          ],
        }),
      ),
    ).toEqual([
      expect.stringMatching(
        /^outputs\[0\]\.operations\[0\]\.op "explode" is not a known operation/,
      ),
      'outputs[1].name "a" is used by an earlier output',
      expect.stringMatching(
        /^outputs\[1\]\.format must be one of the following values/,
      ),
      'outputs[2].name must be 1 to 64 lower-case letters, digits, - and _ (got "Big Name")',
      'outputs[2].lossless applies to webp and avif, not jpeg',
      expect.stringMatching(/^outputs\[3\]\.preset "nope" is not defined/),
      'outputs[4].output is not a known field',
      'outputs[5] must be an object with name, operations or preset, and output options',
    ]);
  });

  it('refuses preset or output beside outputs, and an empty or too long list', () => {
    expect(
      problemsOf(() =>
        request({
          preset: 'web',
          output: { format: 'png' },
          outputs: [{ name: 'a' }],
        }),
      ),
    ).toEqual([
      'preset goes inside each of outputs, not beside them',
      'output options go inside each of outputs (format, quality, …), not in output',
    ]);
    const tooMany = `outputs must be an array of 1 to ${MAX_VARIANTS} outputs, each {"name", "operations" or "preset", and output options}`;
    expect(problemsOf(() => request({ outputs: [] }))).toEqual([tooMany]);
    expect(
      problemsOf(() =>
        request({
          outputs: Array.from({ length: MAX_VARIANTS + 1 }, (_, i) => ({
            name: `v${i}`,
          })),
        }),
      ),
    ).toEqual([tooMany]);
    expect(problemsOf(() => request({ outputs: { name: 'a' } }))).toEqual([
      tooMany,
    ]);
  });

  it('a job message carries variants in their stored form, checked like the rest', () => {
    const message = {
      jobId: '6bd11ae1-d21c-4d55-b97e-56168f81701b',
      attempt: 1,
      source: { kind: 'images', path: 'a.jpg' },
      operations: [],
      output: {},
      variants: [
        {
          name: 'thumb',
          operations: [{ op: 'resize', width: 10 }],
          output: { format: 'webp' },
        },
      ],
      submittedAt: new Date().toISOString(),
    };
    expect(parseImageJobMessage(message).variants).toEqual(message.variants);
    expect(
      problemsOf(() =>
        parseImageJobMessage({
          ...message,
          variants: [
            { name: 'x', operations: [{ op: 'resize', width: 0 }] },
            { name: 'x', operations: [] },
          ],
        }),
      ),
    ).toEqual([
      expect.stringMatching(/^message\.variants\[0\]\.operations\[0\]\.width/),
      'message.variants has two variants with the same name',
    ]);
    expect(problemsOf(() => parseVariantSpecs([], 'variants'))).toEqual([
      `variants must be an array of 1 to ${MAX_VARIANTS} variants`,
    ]);
  });
});
