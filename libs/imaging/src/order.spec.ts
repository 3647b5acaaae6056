import { Operation } from '@pipeline/contracts';
import sharp from 'sharp';
import { makeImage } from '../../../test/support/images';
import { processImage } from './process-image';

const limits = { maxInputPixels: 50_000_000 };

/**
 * The reference: each operation in a pipeline of its own, in the order given.
 */
async function oneAtATime(
  input: Buffer,
  operations: Operation[],
): Promise<Buffer> {
  let current = input;
  for (const operation of operations)
    current = (
      await processImage(current, [operation], { format: 'png' }, limits)
    ).data;
  return current;
}

describe('operations run in the order given, whatever order sharp would use', () => {
  let framed: Buffer;
  beforeAll(async () => {
    framed = await sharp(await makeImage(120, 90, 'png'))
      .extend({
        top: 10,
        bottom: 10,
        left: 10,
        right: 10,
        background: '#ffffff',
      })
      .png()
      .toBuffer();
  });

  it.each<[string, Operation[]]>([
    [
      'trim, crop, resize, extend, blur',
      [
        { op: 'trim' },
        { op: 'crop', left: 5, top: 5, width: 60, height: 50 },
        { op: 'resize', width: 30 },
        { op: 'extend', top: 3, left: 2, background: '#ff0000' },
        { op: 'blur', sigma: 1 },
      ],
    ],
    [
      'crop, rotate, extend',
      [
        { op: 'crop', left: 5, top: 5, width: 60, height: 50 },
        { op: 'rotate', angle: 90 },
        { op: 'extend', top: 3, background: '#00ff00' },
      ],
    ],
    [
      'resize to a box, crop, extend',
      [
        { op: 'resize', width: 50, height: 40 },
        { op: 'crop', left: 5, top: 5, width: 20, height: 20 },
        { op: 'extend', right: 4 },
      ],
    ],
    [
      'negate, median, threshold',
      [{ op: 'negate' }, { op: 'median' }, { op: 'threshold', value: 90 }],
    ],
    [
      'median, threshold, negate',
      [{ op: 'median' }, { op: 'threshold', value: 90 }, { op: 'negate' }],
    ],
    ['negate, resize', [{ op: 'negate' }, { op: 'resize', width: 40 }]],
    ['edges, blur', [{ op: 'edges' }, { op: 'blur', sigma: 2 }]],
    [
      'modulate, sharpen, contrast, normalize, tint',
      [
        { op: 'modulate', saturation: 0.3, hue: 40 },
        { op: 'sharpen' },
        { op: 'contrast', factor: 1.3 },
        { op: 'normalize' },
        { op: 'tint', color: '#704214' },
      ],
    ],
    [
      'tint, grayscale',
      [{ op: 'tint', color: '#704214' }, { op: 'grayscale' }],
    ],
    [
      'resize, gamma 2, contrast, blur',
      [
        { op: 'resize', width: 60 },
        { op: 'gamma', gamma: 2 },
        { op: 'contrast', factor: 1.2 },
        { op: 'blur', sigma: 1 },
      ],
    ],
    [
      'contrast, gamma 0.5, resize',
      [
        { op: 'contrast', factor: 1.2 },
        { op: 'gamma', gamma: 0.5 },
        { op: 'resize', width: 60 },
      ],
    ],
    [
      'grayscale, tint',
      [{ op: 'grayscale' }, { op: 'tint', color: '#704214' }],
    ],
  ])('%s', async (_label, operations) => {
    const together = await processImage(
      framed,
      operations,
      { format: 'png' },
      limits,
    );
    const [a, b] = await Promise.all([
      sharp(together.data).raw().toBuffer({ resolveWithObject: true }),
      sharp(await oneAtATime(framed, operations))
        .raw()
        .toBuffer({ resolveWithObject: true }),
    ]);
    expect([a.info.width, a.info.height]).toEqual([
      b.info.width,
      b.info.height,
    ]);
    let difference = 0;
    for (let i = 0; i < Math.min(a.data.length, b.data.length); i++)
      difference += Math.abs(a.data[i] - b.data[i]);
    expect(difference / a.data.length).toBeLessThanOrEqual(1);
  });
});
