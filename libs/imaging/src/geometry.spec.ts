import { Operation } from '@pipeline/contracts';
import sharp from 'sharp';
import { problemsOf } from '../../../test/support/validation';
import { parseOperations } from '@pipeline/contracts';
import { planStages } from './plan';
import { processImage } from './process-image';

const limits = { maxInputPixels: 50_000_000 };

/**
 * A 3-channel PNG drawn pixel by pixel: `paint(x, y)` gives each pixel's [r, g,
 * b].
 */
function drawn(
  width: number,
  height: number,
  paint: (x: number, y: number) => [number, number, number],
): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data.set(paint(x, y), (y * width + x) * 3);
  return sharp(data, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

async function pixelAt(image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [...data.subarray(offset, offset + info.channels)];
}

describe('trim, extend, and resize with position and withoutEnlargement', () => {
  it('trim removes a uniform border', async () => {
    // A 20x10 red block in the middle of a 60x40 white canvas.
    const framed = await drawn(60, 40, (x, y) =>
      x >= 20 && x < 40 && y >= 15 && y < 25 ? [255, 0, 0] : [255, 255, 255],
    );
    const result = await processImage(
      framed,
      [{ op: 'trim' }],
      { format: 'png' },
      limits,
    );
    expect([result.width, result.height]).toEqual([20, 10]);
    expect(await pixelAt(result.data, 10, 5)).toEqual([255, 0, 0]);
  });

  it('extend pads each side with the background colour', async () => {
    const green = await drawn(10, 10, () => [0, 255, 0]);
    const result = await processImage(
      green,
      [{ op: 'extend', top: 5, left: 3, right: 2, background: '#0000ff' }],
      { format: 'png' },
      limits,
    );
    expect([result.width, result.height]).toEqual([15, 15]);
    expect(await pixelAt(result.data, 0, 0)).toEqual([0, 0, 255]);
    expect(await pixelAt(result.data, 5, 10)).toEqual([0, 255, 0]);
  });

  it('a resize with a position keeps the side it names', async () => {
    // Left half black, right half white; a square cover crop anchored right
    // shows white.
    const halves = await drawn(80, 40, (x) =>
      x < 40 ? [0, 0, 0] : [255, 255, 255],
    );
    const right = await processImage(
      halves,
      [{ op: 'resize', width: 20, height: 20, position: 'right' }],
      { format: 'png' },
      limits,
    );
    const left = await processImage(
      halves,
      [{ op: 'resize', width: 20, height: 20, position: 'left' }],
      { format: 'png' },
      limits,
    );
    expect([right.width, right.height]).toEqual([20, 20]);
    expect((await pixelAt(right.data, 10, 10))[0]).toBe(255);
    expect((await pixelAt(left.data, 10, 10))[0]).toBe(0);
  });

  it('attention and entropy crop to the asked size', async () => {
    const busy = await drawn(90, 60, (x, y) =>
      x > 60 && y > 30
        ? [(x * 37) % 256, (y * 91) % 256, ((x + y) * 53) % 256]
        : [128, 128, 128],
    );
    for (const position of ['attention', 'entropy'] as const) {
      const result = await processImage(
        busy,
        [{ op: 'resize', width: 30, height: 30, position }],
        { format: 'png' },
        limits,
      );
      expect([result.width, result.height]).toEqual([30, 30]);
    }
  });

  it('withoutEnlargement leaves a smaller image as it is', async () => {
    const small = await drawn(40, 30, () => [10, 20, 30]);
    expect(
      await processImage(
        small,
        [{ op: 'resize', width: 400, withoutEnlargement: true }],
        { format: 'png' },
        limits,
      ),
    ).toMatchObject({ width: 40, height: 30 });
    expect(
      await processImage(
        small,
        [{ op: 'resize', width: 400 }],
        { format: 'png' },
        limits,
      ),
    ).toMatchObject({ width: 400, height: 300 });
  });

  it.each<[string, Operation[], string[][]]>([
    [
      'trim, crop, resize, extend, blur in one pass',
      [
        { op: 'trim' },
        { op: 'crop', left: 0, top: 0, width: 5, height: 5 },
        { op: 'resize', width: 4 },
        { op: 'extend', top: 1 },
        { op: 'blur', sigma: 1 },
      ],
      [['trim', 'crop', 'resize', 'extend', 'blur']],
    ],
    [
      'a trim after anything',
      [{ op: 'resize', width: 4 }, { op: 'trim' }],
      [['resize'], ['trim']],
    ],
    [
      'geometry after an extend',
      [
        { op: 'extend', top: 1 },
        { op: 'resize', width: 4 },
      ],
      [['extend'], ['resize']],
    ],
    [
      'an extend after a filter',
      [
        { op: 'blur', sigma: 1 },
        { op: 'extend', top: 1 },
      ],
      [['blur'], ['extend']],
    ],
  ])('plans %s', (_label, operations, expected) => {
    expect(
      planStages(operations).map((stage) => stage.map((op) => op.op)),
    ).toEqual(expected);
  });

  it.each([
    [
      { op: 'extend' },
      'operations[0].right: extend needs top, bottom, left or right above 0',
    ],
    [
      { op: 'extend', top: 0 },
      'operations[0].right: extend needs top, bottom, left or right above 0',
    ],
    [
      { op: 'extend', right: -1 },
      'operations[0].right must be an integer from 0 to 16384',
    ],
    [
      { op: 'extend', top: 2, background: 'blue' },
      'operations[0].background must be a hex colour such as #ffffff or #00000000',
    ],
    [
      { op: 'resize', width: 10, position: 'middle' },
      'operations[0].position must be one of the following values',
    ],
    [
      {
        op: 'resize',
        width: 10,
        height: 10,
        fit: 'contain',
        position: 'attention',
      },
      'operations[0].fit must be cover (the default) for the entropy and attention positions',
    ],
    [
      { op: 'trim', threshold: 300 },
      'operations[0].threshold must not be greater than 255',
    ],
  ])('refuses %j', (operation, problem) => {
    const problems = problemsOf(() => parseOperations([operation]));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(problem);
  });
});
