import { Operation } from '@pipeline/contracts';
import sharp from 'sharp';
import { makeImage } from '../../../test/support/images';
import { planStages } from './plan';
import { processImage } from './process-image';

const limits = { maxInputPixels: 50_000_000 };

interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

async function pixelsOf(image: Buffer): Promise<Pixels> {
  const { data, info } = await sharp(image)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data,
    width: info.width,
    height: info.height,
    channels: info.channels,
  };
}

const run = async (input: Buffer, operations: Operation[]) =>
  pixelsOf(
    (await processImage(input, operations, { format: 'png' }, limits)).data,
  );
/**
 * A 3-channel PNG drawn pixel by pixel: `paint(x, y)` gives each pixel's grey
 * value.
 */
const drawn = (
  paint: (x: number, y: number) => number,
  width = 32,
  height = 24,
) => {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      data.fill(paint(x, y), (y * width + x) * 3, (y * width + x) * 3 + 3);
  return sharp(data, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
};
const flat = (value: number) => drawn(() => value);
const mean = (image: Pixels) =>
  image.data.reduce((sum, v) => sum + v, 0) / image.data.length;

describe('filters, each checked on real pixels', () => {
  let photo: Buffer;
  beforeAll(async () => {
    photo = await makeImage(64, 48, 'png');
  });

  it('negate turns every value v into 255 - v', async () => {
    const [original, negated] = await Promise.all([
      pixelsOf(photo),
      run(photo, [{ op: 'negate' }]),
    ]);
    expect(negated.data.every((v, i) => v === 255 - original.data[i])).toBe(
      true,
    );
  });

  it.each([
    [2.2, 186],
    [0.5, 64],
    [1, 128],
  ])(
    'gamma %p maps mid-grey 128 to (128/255)^(1/gamma) = %p',
    async (gamma, expected) => {
      const result = await run(await flat(128), [{ op: 'gamma', gamma }]);
      expect(Math.abs(mean(result) - expected)).toBeLessThanOrEqual(2);
      const ends = await run(await drawn((x) => (x < 16 ? 0 : 255)), [
        { op: 'gamma', gamma },
      ]);
      expect([ends.data[0], ends.data[ends.data.length - 1]]).toEqual([0, 255]);
    },
  );

  it('threshold leaves only black and white', async () => {
    const result = await run(photo, [{ op: 'threshold', value: 100 }]);
    expect(new Set(result.data)).toEqual(new Set([0, 255]));
  });

  it('edges turn a flat image black and light up a boundary', async () => {
    expect(mean(await run(await flat(180), [{ op: 'edges' }]))).toBeLessThan(1);
    const halfAndHalf = await drawn((x) => (x < 16 ? 0 : 255));
    const edges = await run(halfAndHalf, [{ op: 'edges' }]);
    const at = (x: number, y: number) =>
      edges.data[(y * edges.width + x) * edges.channels];
    expect(at(4, 12)).toBe(0);
    expect(Math.max(at(15, 12), at(16, 12))).toBeGreaterThan(200);
  });

  it('median keeps a flat image flat and removes a lone speck', async () => {
    const speck = await drawn((x, y) => (x === 10 && y === 10 ? 255 : 100));
    const result = await run(speck, [{ op: 'median', size: 3 }]);
    expect(result.data.every((v) => v === 100)).toBe(true);
  });

  it('contrast scales around mid-grey: 128 stays, 100 moves away from it', async () => {
    expect(
      mean(await run(await flat(128), [{ op: 'contrast', factor: 2 }])),
    ).toBeCloseTo(128, 0);
    expect(
      mean(await run(await flat(100), [{ op: 'contrast', factor: 2 }])),
    ).toBeCloseTo(72, 0);
    expect(
      mean(await run(await flat(100), [{ op: 'contrast', factor: 0.5 }])),
    ).toBeCloseTo(114, 0);
  });

  it('modulate with saturation 0 makes every pixel grey; brightness makes it lighter', async () => {
    const grey = await run(photo, [{ op: 'modulate', saturation: 0 }]);
    for (let i = 0; i < grey.data.length; i += grey.channels) {
      expect(
        Math.max(grey.data[i], grey.data[i + 1], grey.data[i + 2]) -
          Math.min(grey.data[i], grey.data[i + 1], grey.data[i + 2]),
      ).toBeLessThanOrEqual(2);
    }
    expect(
      mean(await run(photo, [{ op: 'modulate', brightness: 1.5 }])),
    ).toBeGreaterThan(mean(await pixelsOf(photo)) + 10);
  });

  it('normalize stretches a dull image to the full range', async () => {
    const dull = await sharp(await makeImage(64, 48, 'png'))
      .linear(0.2, 100)
      .png()
      .toBuffer();
    const before = await pixelsOf(dull);
    const after = await run(dull, [{ op: 'normalize' }]);
    const spread = (image: Pixels) =>
      Math.max(...image.data) - Math.min(...image.data);
    expect(spread(before)).toBeLessThan(70);
    expect(spread(after)).toBeGreaterThan(200);
  });

  it('tint after grayscale gives a toned image; grayscale after tint gives a grey one', async () => {
    const toned = await run(photo, [
      { op: 'grayscale' },
      { op: 'tint', color: '#704214' },
    ]);
    const grey = await run(photo, [
      { op: 'tint', color: '#704214' },
      { op: 'grayscale' },
    ]);
    const redMinusBlue = (image: Pixels) => {
      let sum = 0;
      for (let i = 0; i < image.data.length; i += image.channels)
        sum += image.data[i] - image.data[i + 2];
      return sum / (image.data.length / image.channels);
    };
    expect(redMinusBlue(toned)).toBeGreaterThan(10);
    expect(Math.abs(redMinusBlue(grey))).toBeLessThan(2);
  });

  it('keeps the size of the image', async () => {
    for (const operation of [
      { op: 'median' },
      { op: 'edges' },
      { op: 'normalize' },
      { op: 'tint', color: '#ff0000' },
    ] as Operation[]) {
      const result = await run(photo, [operation]);
      expect([result.width, result.height]).toEqual([64, 48]);
    }
  });
});

describe('planStages with the filters', () => {
  const shape = (operations: Operation[]) =>
    planStages(operations).map((stage) => stage.map((op) => op.op));

  it.each<[string, Operation[], string[][]]>([
    [
      'resize, median, blur, edges, modulate, sharpen, contrast, normalize, tint in one pass',
      [
        { op: 'resize', width: 10 },
        { op: 'median' },
        { op: 'blur', sigma: 1 },
        { op: 'edges' },
        { op: 'modulate', hue: 90 },
        { op: 'sharpen' },
        { op: 'contrast', factor: 1.1 },
        { op: 'normalize' },
        { op: 'tint', color: '#123456' },
      ],
      [
        [
          'resize',
          'median',
          'blur',
          'edges',
          'modulate',
          'sharpen',
          'contrast',
          'normalize',
          'tint',
        ],
      ],
    ],
    [
      'blur then median',
      [{ op: 'blur', sigma: 1 }, { op: 'median' }],
      [['blur'], ['median']],
    ],
    [
      'brightness then modulate (one sharp call)',
      [
        { op: 'brightness', factor: 1.1 },
        { op: 'modulate', saturation: 2 },
      ],
      [['brightness'], ['modulate']],
    ],
    [
      'tint then grayscale',
      [{ op: 'tint', color: '#123456' }, { op: 'grayscale' }],
      [['tint'], ['grayscale']],
    ],
    [
      'grayscale then tint (sharp would drop the tint)',
      [{ op: 'grayscale' }, { op: 'tint', color: '#123456' }],
      [['grayscale'], ['tint']],
    ],
    [
      'negate after geometry',
      [{ op: 'resize', width: 10 }, { op: 'flip' }, { op: 'negate' }],
      [['resize'], ['flip', 'negate']],
    ],
    [
      'negate after a filter (sharp negates last)',
      [{ op: 'blur', sigma: 1 }, { op: 'negate' }],
      [['blur', 'negate']],
    ],
    [
      'a filter after negate',
      [{ op: 'negate' }, { op: 'threshold' }],
      [['negate'], ['threshold']],
    ],
    [
      'geometry after negate',
      [{ op: 'negate' }, { op: 'resize', width: 4 }],
      [['negate', 'resize']],
    ],
    [
      'normalize then contrast',
      [{ op: 'normalize' }, { op: 'contrast', factor: 2 }],
      [['normalize'], ['contrast']],
    ],
  ])('%s', (_label, operations, expected) => {
    expect(shape(operations)).toEqual(expected);
  });
});
