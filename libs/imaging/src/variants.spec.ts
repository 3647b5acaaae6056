import { VariantSpec } from '@pipeline/contracts';
import sharp from 'sharp';
import { makeImage } from '../../../test/support/images';
import { processVariants } from './process-image';

const limits = { maxInputPixels: 50_000_000 };

/**
 * A 40x20 PNG, red on its left half and blue on its right, so a mirror shows.
 */
async function halves(): Promise<Buffer> {
  const width = 40;
  const height = 20;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      data.set(x < width / 2 ? [255, 0, 0] : [0, 0, 255], (y * width + x) * 3);
  return sharp(data, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

async function leftPixel(image: Buffer): Promise<number[]> {
  const { data } = await sharp(image)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return [...data.subarray(0, 3)];
}

describe('processVariants', () => {
  it('makes every variant, each with its own operations, size and format, in the order asked', async () => {
    const input = await makeImage(200, 100, 'jpeg');
    const variants: VariantSpec[] = [
      {
        name: 'thumb',
        operations: [{ op: 'resize', width: 50, height: 50, fit: 'cover' }],
        output: { format: 'webp' },
      },
      {
        name: 'grey',
        operations: [{ op: 'grayscale' }],
        output: { format: 'png' },
      },
      { name: 'same', operations: [], output: {} },
    ];
    const outputs = await processVariants(input, [], variants, limits);
    expect(
      outputs.map(({ name, format, width, height }) => ({
        name,
        format,
        width,
        height,
      })),
    ).toEqual([
      { name: 'thumb', format: 'webp', width: 50, height: 50 },
      { name: 'grey', format: 'png', width: 200, height: 100 },
      { name: 'same', format: 'jpeg', width: 200, height: 100 },
    ]);
    for (const output of outputs) {
      const metadata = await sharp(output.data).metadata();
      expect([metadata.format, metadata.width, metadata.height]).toEqual([
        output.format,
        output.width,
        output.height,
      ]);
    }
    const { data, info } = await sharp(outputs[1].data)
      .raw()
      .toBuffer({ resolveWithObject: true });
    for (let i = 0; i < data.length; i += info.channels)
      expect(data[i]).toBe(data[i + Math.min(1, info.channels - 1)]);
  });

  it('runs the shared operations once before each variant', async () => {
    const input = await halves();
    // Mirrored once, the left edge is blue in both; mirrored again in one
    // variant, red there.
    const [kept, again] = await processVariants(
      input,
      [{ op: 'flop' }],
      [
        { name: 'kept', operations: [], output: { format: 'png' } },
        {
          name: 'again',
          operations: [{ op: 'flop' }, { op: 'resize', width: 20 }],
          output: { format: 'png' },
        },
      ],
      limits,
    );
    expect(await leftPixel(kept.data)).toEqual([0, 0, 255]);
    expect(await leftPixel(again.data)).toEqual([255, 0, 0]);
    expect([again.width, again.height]).toEqual([20, 10]);
  });

  it('fails as a whole when one variant does not fit the image', async () => {
    const input = await makeImage(60, 40, 'png');
    await expect(
      processVariants(
        input,
        [],
        [
          { name: 'ok', operations: [], output: { format: 'png' } },
          {
            name: 'bad',
            operations: [
              { op: 'crop', left: 50, top: 0, width: 30, height: 10 },
            ],
            output: { format: 'png' },
          },
        ],
        limits,
      ),
    ).rejects.toThrow(/extract_area|bad extract area/);
  });

  it('refuses an input over the pixel limit before decoding it', async () => {
    const input = await makeImage(100, 100, 'png');
    await expect(
      processVariants(input, [], [{ name: 'a', operations: [], output: {} }], {
        maxInputPixels: 5_000,
      }),
    ).rejects.toThrow(/exceeds pixel limit/);
  });
});
