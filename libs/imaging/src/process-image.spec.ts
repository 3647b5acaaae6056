import { Operation } from '@pipeline/contracts';
import sharp, { Sharp } from 'sharp';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeImage } from '../../../test/support/images';
import { classifyProcessingError } from './classify-error';
import { detectImageFormat } from './formats';
import { processImage } from './process-image';

const limits = { maxInputPixels: 10_000_000 };

interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

async function decode(image: Buffer): Promise<Pixels> {
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

function pixel(image: Pixels, x: number, y: number): number[] {
  const offset = (y * image.width + x) * image.channels;
  return [...image.data.subarray(offset, offset + image.channels)];
}

function meanAbsoluteDifference(a: Pixels, b: Pixels): number {
  expect([a.width, a.height, a.channels]).toEqual([
    b.width,
    b.height,
    b.channels,
  ]);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++)
    sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

/**
 * The reference: each operation on its own, one sharp pipeline per operation,
 * in the order given.
 */
async function oneAtATime(
  input: Buffer,
  operations: Operation[],
): Promise<Pixels> {
  let { data, info } = await sharp(input)
    .autoOrient()
    .raw()
    .toBuffer({ resolveWithObject: true });
  for (const operation of operations) {
    let image: Sharp = sharp(data, {
      raw: { width: info.width, height: info.height, channels: info.channels },
    });
    switch (operation.op) {
      case 'resize':
        image = image.resize({
          width: operation.width,
          height: operation.height,
          fit: operation.fit,
        });
        break;
      case 'crop':
        image = image.extract({
          left: operation.left,
          top: operation.top,
          width: operation.width,
          height: operation.height,
        });
        break;
      case 'rotate':
        image = image.rotate(operation.angle);
        break;
      case 'flip':
        image = image.flip();
        break;
      case 'flop':
        image = image.flop();
        break;
      default:
        throw new Error(`no reference for ${operation.op}`);
    }
    ({ data, info } = await image.raw().toBuffer({ resolveWithObject: true }));
  }
  return {
    data,
    width: info.width,
    height: info.height,
    channels: info.channels,
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('processImage', () => {
  let jpeg400x300: Buffer;
  let png400x300: Buffer;
  let png120x80: Buffer;

  beforeAll(async () => {
    [jpeg400x300, png400x300, png120x80] = await Promise.all([
      makeImage(400, 300, 'jpeg'),
      makeImage(400, 300, 'png'),
      makeImage(120, 80, 'png'),
    ]);
  });

  describe('geometry', () => {
    it('keeps the image as it is with no operations', async () => {
      const result = await processImage(png120x80, [], {}, limits);
      expect([result.width, result.height]).toEqual([120, 80]);
      expect(
        meanAbsoluteDifference(
          await decode(result.data),
          await decode(png120x80),
        ),
      ).toBe(0);
    });

    it('resize by width only keeps the aspect ratio', async () => {
      const result = await processImage(
        jpeg400x300,
        [{ op: 'resize', width: 200 }],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([200, 150]);
    });

    it('resize by height only keeps the aspect ratio', async () => {
      const result = await processImage(
        jpeg400x300,
        [{ op: 'resize', height: 60 }],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([80, 60]);
    });

    it.each([
      ['cover', [100, 50]],
      ['contain', [100, 50]],
      ['fill', [100, 50]],
      ['inside', [67, 50]],
      ['outside', [100, 75]],
    ] as const)('resize to a 100x50 box with fit %s', async (fit, size) => {
      const result = await processImage(
        jpeg400x300,
        [{ op: 'resize', width: 100, height: 50, fit }],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual(size);
    });

    it('crop gives exactly the size asked for, from the place asked for', async () => {
      const result = await processImage(
        png400x300,
        [{ op: 'crop', left: 30, top: 40, width: 50, height: 20 }],
        { format: 'png' },
        limits,
      );
      expect([result.width, result.height]).toEqual([50, 20]);
      const [input, output] = [
        await decode(png400x300),
        await decode(result.data),
      ];
      expect(pixel(output, 0, 0)).toEqual(pixel(input, 30, 40));
      expect(pixel(output, 49, 19)).toEqual(pixel(input, 79, 59));
    });

    it.each([
      [90, [300, 400]],
      [-90, [300, 400]],
      [270, [300, 400]],
      [180, [400, 300]],
      [360, [400, 300]],
    ])('rotate %d gives the expected dimensions', async (angle, size) => {
      const result = await processImage(
        jpeg400x300,
        [{ op: 'rotate', angle }],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual(size);
    });

    it('rotate 90 turns the image clockwise', async () => {
      const result = await processImage(
        png120x80,
        [{ op: 'rotate', angle: 90 }],
        { format: 'png' },
        limits,
      );
      const [input, output] = [
        await decode(png120x80),
        await decode(result.data),
      ];
      expect([output.width, output.height]).toEqual([80, 120]);
      // Clockwise: the input's bottom-left corner becomes the output's
      // top-left.
      expect(pixel(output, 0, 0)).toEqual(pixel(input, 0, 79));
      expect(pixel(output, 79, 0)).toEqual(pixel(input, 0, 0));
    });

    it('rotate by an angle that is not a multiple of 90 enlarges the canvas and fills the corners with the background', async () => {
      const result = await processImage(
        png120x80,
        [{ op: 'rotate', angle: 45, background: '#ff0000' }],
        { format: 'png' },
        limits,
      );
      // The bounding box of a 120x80 rectangle turned by 45°: (120 + 80) / √2
      // ≈ 141.
      expect(result.width).toBeGreaterThanOrEqual(140);
      expect(result.width).toBeLessThanOrEqual(143);
      expect(result.height).toBe(result.width);
      const corner = pixel(await decode(result.data), 0, 0);
      expect(corner.slice(0, 3)).toEqual([255, 0, 0]);
    });

    it('flip mirrors top to bottom', async () => {
      const result = await processImage(
        png120x80,
        [{ op: 'flip' }],
        { format: 'png' },
        limits,
      );
      const [input, output] = [
        await decode(png120x80),
        await decode(result.data),
      ];
      for (const [x, y] of [
        [0, 0],
        [17, 5],
        [119, 79],
      ]) {
        expect(pixel(output, x, y)).toEqual(pixel(input, x, 79 - y));
      }
    });

    it('flop mirrors left to right', async () => {
      const result = await processImage(
        png120x80,
        [{ op: 'flop' }],
        { format: 'png' },
        limits,
      );
      const [input, output] = [
        await decode(png120x80),
        await decode(result.data),
      ];
      for (const [x, y] of [
        [0, 0],
        [17, 5],
        [119, 79],
      ]) {
        expect(pixel(output, x, y)).toEqual(pixel(input, 119 - x, y));
      }
    });
  });

  describe('operations apply in the order given', () => {
    it('crop 200x100 at 0,0 then resize to width 100 gives 100x50', async () => {
      const result = await processImage(
        jpeg400x300,
        [
          { op: 'crop', left: 0, top: 0, width: 200, height: 100 },
          { op: 'resize', width: 100 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([100, 50]);
    });

    it('resize to width 200 then crop 100x100 at 0,0 gives 100x100', async () => {
      const result = await processImage(
        jpeg400x300,
        [
          { op: 'resize', width: 200 },
          { op: 'crop', left: 0, top: 0, width: 100, height: 100 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([100, 100]);
    });

    it('a crop that only fits after the resize works when the resize comes first', async () => {
      // 400x300 -> 800x600; a crop at 500,400 would be outside the original.
      const result = await processImage(
        jpeg400x300,
        [
          { op: 'resize', width: 800 },
          { op: 'crop', left: 500, top: 400, width: 100, height: 100 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([100, 100]);
    });

    it('rotate 90 then resize to width 150 resizes the rotated image', async () => {
      const result = await processImage(
        jpeg400x300,
        [
          { op: 'rotate', angle: 90 },
          { op: 'resize', width: 150 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([150, 200]);
    });

    it('resize to width 200 then rotate 90 rotates the resized image', async () => {
      const result = await processImage(
        jpeg400x300,
        [
          { op: 'resize', width: 200 },
          { op: 'rotate', angle: 90 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([150, 200]);
    });

    it('crop then rotate 90 and rotate 90 then crop differ as they should', async () => {
      const cropThenRotate = await processImage(
        jpeg400x300,
        [
          { op: 'crop', left: 0, top: 0, width: 300, height: 50 },
          { op: 'rotate', angle: 90 },
        ],
        {},
        limits,
      );
      expect([cropThenRotate.width, cropThenRotate.height]).toEqual([50, 300]);
      const rotateThenCrop = await processImage(
        jpeg400x300,
        [
          { op: 'rotate', angle: 90 },
          { op: 'crop', left: 0, top: 0, width: 300, height: 50 },
        ],
        {},
        limits,
      );
      expect([rotateThenCrop.width, rotateThenCrop.height]).toEqual([300, 50]);
    });

    it('blur then resize and a repeated operation (several stages) still give the right size', async () => {
      const result = await processImage(
        jpeg400x300,
        [
          { op: 'blur', sigma: 1 },
          { op: 'resize', width: 200 },
          { op: 'resize', width: 100 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([100, 75]);
    });

    const sequences: Array<[string, Operation[]]> = [
      [
        'crop, flip',
        [
          { op: 'crop', left: 5, top: 10, width: 40, height: 30 },
          { op: 'flip' },
        ],
      ],
      [
        'flip, crop',
        [
          { op: 'flip' },
          { op: 'crop', left: 5, top: 10, width: 40, height: 30 },
        ],
      ],
      [
        'flop, crop',
        [
          { op: 'flop' },
          { op: 'crop', left: 5, top: 10, width: 40, height: 30 },
        ],
      ],
      [
        'crop, rotate 90',
        [
          { op: 'crop', left: 5, top: 10, width: 40, height: 30 },
          { op: 'rotate', angle: 90 },
        ],
      ],
      [
        'rotate 90, crop',
        [
          { op: 'rotate', angle: 90 },
          { op: 'crop', left: 5, top: 10, width: 40, height: 30 },
        ],
      ],
      ['rotate 270, flip', [{ op: 'rotate', angle: 270 }, { op: 'flip' }]],
      ['flip, rotate 90', [{ op: 'flip' }, { op: 'rotate', angle: 90 }]],
      [
        'flop, rotate 90, crop',
        [
          { op: 'flop' },
          { op: 'rotate', angle: 90 },
          { op: 'crop', left: 0, top: 50, width: 80, height: 20 },
        ],
      ],
      [
        'rotate 180, flop, flip',
        [{ op: 'rotate', angle: 180 }, { op: 'flop' }, { op: 'flip' }],
      ],
      [
        'crop, resize',
        [
          { op: 'crop', left: 5, top: 10, width: 40, height: 30 },
          { op: 'resize', width: 80 },
        ],
      ],
      [
        'resize, crop',
        [
          { op: 'resize', width: 60 },
          { op: 'crop', left: 5, top: 10, width: 40, height: 30 },
        ],
      ],
      [
        'rotate 90, resize, crop',
        [
          { op: 'rotate', angle: 90 },
          { op: 'resize', width: 40 },
          { op: 'crop', left: 0, top: 10, width: 40, height: 30 },
        ],
      ],
      [
        'resize, rotate 90',
        [
          { op: 'resize', width: 60 },
          { op: 'rotate', angle: 90 },
        ],
      ],
    ];

    it.each(sequences)(
      '%s gives the same pixels as applying each operation on its own',
      async (_label, operations) => {
        const result = await processImage(
          png120x80,
          operations,
          { format: 'png' },
          limits,
        );
        const [expected, actual] = [
          await oneAtATime(png120x80, operations),
          await decode(result.data),
        ];
        expect([actual.width, actual.height]).toEqual([
          expected.width,
          expected.height,
        ]);
        expect([result.width, result.height]).toEqual([
          expected.width,
          expected.height,
        ]);
        expect(meanAbsoluteDifference(actual, expected)).toBeLessThanOrEqual(1);
      },
    );

    it('resize to a 100x50 box then rotate 90 gives 50x100', async () => {
      const result = await processImage(
        jpeg400x300,
        [
          { op: 'resize', width: 100, height: 50 },
          { op: 'rotate', angle: 90 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([50, 100]);
    });
  });

  describe('filters', () => {
    function expectGrey(image: Pixels): void {
      // sharp keeps a greyscale result as sRGB with three identical channels
      // (see sharp's grayscale docs); a single b-w channel would be grey too.
      expect([1, 3]).toContain(image.channels);
      for (
        let offset = 0;
        offset < image.data.length;
        offset += image.channels
      ) {
        const [r, g, b] =
          image.channels === 1
            ? [image.data[offset], image.data[offset], image.data[offset]]
            : image.data.subarray(offset, offset + 3);
        if (r !== g || g !== b)
          throw new Error(
            `pixel ${offset / image.channels} is not grey: ${r},${g},${b}`,
          );
      }
    }

    it('grayscale makes the channels of every pixel equal', async () => {
      const input = await decode(png120x80);
      // The test image is coloured, so equal channels can only come from the
      // operation.
      expect(pixel(input, 0, 0)[0]).not.toBe(pixel(input, 0, 0)[2]);
      const result = await processImage(
        png120x80,
        [{ op: 'grayscale' }],
        { format: 'png' },
        limits,
      );
      expectGrey(await decode(result.data));
    });

    it('grayscale followed by several stages still gives grey pixels', async () => {
      const result = await processImage(
        png120x80,
        [
          { op: 'grayscale' },
          { op: 'blur', sigma: 1 },
          { op: 'blur', sigma: 1 },
        ],
        { format: 'png' },
        limits,
      );
      expectGrey(await decode(result.data));
    });

    it('grayscale after a resize and a crop, in one stage, gives grey pixels of the right size', async () => {
      const result = await processImage(
        png400x300,
        [
          { op: 'resize', width: 200 },
          { op: 'crop', left: 10, top: 10, width: 50, height: 40 },
          { op: 'grayscale' },
        ],
        { format: 'png' },
        limits,
      );
      const output = await decode(result.data);
      expect([output.width, output.height]).toEqual([50, 40]);
      expectGrey(output);
    });

    it('brightness above 1 brightens and below 1 darkens', async () => {
      const meanOf = async (image: Buffer) => {
        const { channels } = await sharp(image).stats();
        return (channels[0].mean + channels[1].mean + channels[2].mean) / 3;
      };
      const original = await meanOf(png120x80);
      const brighter = await meanOf(
        (
          await processImage(
            png120x80,
            [{ op: 'brightness', factor: 1.5 }],
            { format: 'png' },
            limits,
          )
        ).data,
      );
      const darker = await meanOf(
        (
          await processImage(
            png120x80,
            [{ op: 'brightness', factor: 0.5 }],
            { format: 'png' },
            limits,
          )
        ).data,
      );
      expect(brighter).toBeGreaterThan(original + 10);
      expect(darker).toBeLessThan(original - 10);
    });

    it('blur makes the image less sharp and sharpen makes it sharper', async () => {
      const sharpnessOf = async (image: Buffer) =>
        (await sharp(image).stats()).sharpness;
      const original = await sharpnessOf(png120x80);
      const blurred = await sharpnessOf(
        (
          await processImage(
            png120x80,
            [{ op: 'blur', sigma: 3 }],
            { format: 'png' },
            limits,
          )
        ).data,
      );
      const sharpened = await sharpnessOf(
        (
          await processImage(
            png120x80,
            [{ op: 'sharpen', sigma: 2 }],
            { format: 'png' },
            limits,
          )
        ).data,
      );
      expect(blurred).toBeLessThan(original * 0.8);
      expect(sharpened).toBeGreaterThan(original);
    });

    it('blur keeps the size', async () => {
      const result = await processImage(
        jpeg400x300,
        [{ op: 'blur', sigma: 2 }],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([400, 300]);
    });
  });

  describe('output format', () => {
    it.each([
      ['jpeg', 'jpeg'],
      ['png', 'png'],
      ['webp', 'webp'],
    ] as const)('follows a %s input by default', async (format, expected) => {
      const input = await makeImage(64, 48, format);
      const result = await processImage(input, [{ op: 'flip' }], {}, limits);
      expect(result.format).toBe(expected);
      expect((await sharp(result.data).metadata()).format).toBe(expected);
    });

    it.each(['gif', 'tiff'] as const)(
      'gives jpeg for a %s input by default',
      async (format) => {
        const input = await sharp(png120x80).toFormat(format).toBuffer();
        const result = await processImage(input, [], {}, limits);
        expect(result.format).toBe('jpeg');
        expect((await sharp(result.data).metadata()).format).toBe('jpeg');
        expect(detectImageFormat(result.data)).toBe('jpeg');
      },
    );

    it('encodes webp when asked, from a jpeg', async () => {
      const result = await processImage(
        jpeg400x300,
        [{ op: 'resize', width: 100 }],
        { format: 'webp' },
        limits,
      );
      expect(result.format).toBe('webp');
      const metadata = await sharp(result.data).metadata();
      expect(metadata.format).toBe('webp');
      expect([metadata.width, metadata.height]).toEqual([100, 75]);
    });

    it('encodes avif when asked', async () => {
      const result = await processImage(
        png120x80,
        [],
        { format: 'avif' },
        limits,
      );
      expect(result.format).toBe('avif');
      const metadata = await sharp(result.data).metadata();
      // sharp reports AVIF as the HEIF container with AV1 compression.
      expect(metadata.format).toBe('heif');
      expect(metadata.compression).toBe('av1');
      expect(detectImageFormat(result.data)).toBe('avif');
      expect([metadata.width, metadata.height]).toEqual([120, 80]);
    });

    it('reports the width and height of the encoded output', async () => {
      const result = await processImage(
        jpeg400x300,
        [{ op: 'resize', width: 123 }],
        { format: 'png' },
        limits,
      );
      const metadata = await sharp(result.data).metadata();
      expect([result.width, result.height]).toEqual([
        metadata.width,
        metadata.height,
      ]);
      expect(result.width).toBe(123);
    });

    it('a lower jpeg quality gives a smaller file', async () => {
      const low = await processImage(
        jpeg400x300,
        [],
        { format: 'jpeg', quality: 10 },
        limits,
      );
      const high = await processImage(
        jpeg400x300,
        [],
        { format: 'jpeg', quality: 95 },
        limits,
      );
      expect(low.data.length).toBeLessThan(high.data.length);
    });

    it('a png quality below 100 gives a palette image', async () => {
      const result = await processImage(
        png120x80,
        [],
        { format: 'png', quality: 50 },
        limits,
      );
      const metadata = await sharp(result.data).metadata();
      expect(metadata.format).toBe('png');
      expect(metadata.isPalette).toBe(true);
      const plain = await sharp(
        (await processImage(png120x80, [], { format: 'png' }, limits)).data,
      ).metadata();
      expect(plain.isPalette).toBe(false);
    });
  });

  describe('EXIF orientation', () => {
    let rotated: Buffer;

    beforeAll(async () => {
      // Pixels stored 400x300, to be shown turned by 90° (orientation 6):
      // upright it is 300x400.
      rotated = await sharp(jpeg400x300)
        .withMetadata({ orientation: 6 })
        .jpeg()
        .toBuffer();
      const metadata = await sharp(rotated).metadata();
      expect([metadata.width, metadata.height, metadata.orientation]).toEqual([
        400, 300, 6,
      ]);
    });

    it('is applied with no operations: width and height are swapped', async () => {
      const result = await processImage(rotated, [], {}, limits);
      expect([result.width, result.height]).toEqual([300, 400]);
      const metadata = await sharp(result.data).metadata();
      expect([metadata.width, metadata.height]).toEqual([300, 400]);
      // The tag is not copied: viewers must not turn the image a second time.
      expect(metadata.orientation ?? 1).toBe(1);
    });

    it('is applied before a resize', async () => {
      const result = await processImage(
        rotated,
        [{ op: 'resize', width: 150 }],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([150, 200]);
    });

    it('is applied before a crop', async () => {
      const result = await processImage(
        rotated,
        [{ op: 'crop', left: 0, top: 350, width: 300, height: 50 }],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([300, 50]);
    });

    it('is applied before a later stage', async () => {
      const result = await processImage(
        rotated,
        [
          { op: 'blur', sigma: 1 },
          { op: 'resize', width: 30 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([30, 40]);
    });

    it('is applied before a rotation', async () => {
      const result = await processImage(
        rotated,
        [{ op: 'rotate', angle: 90 }],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([400, 300]);
    });

    it('is applied before a resize followed by a rotation', async () => {
      const result = await processImage(
        rotated,
        [
          { op: 'resize', width: 150 },
          { op: 'rotate', angle: 90 },
        ],
        {},
        limits,
      );
      expect([result.width, result.height]).toEqual([200, 150]);
    });
  });

  describe('failures and their classification', () => {
    it('rejects a corrupt input as a permanent INVALID_IMAGE', async () => {
      const error = await rejectionOf(
        processImage(jpeg400x300.subarray(0, 100), [], {}, limits),
      );
      expect(error).toBeInstanceOf(Error);
      const classified = classifyProcessingError(error);
      expect(classified.permanent).toBe(true);
      expect(classified.error.code).toBe('INVALID_IMAGE');
      expect(classified.error.message).toMatch(
        /^The input could not be decoded as an image: /,
      );
    });

    it('rejects a truncated input as a permanent INVALID_IMAGE', async () => {
      const error = await rejectionOf(
        processImage(
          jpeg400x300.subarray(0, Math.floor(jpeg400x300.length / 2)),
          [],
          {},
          limits,
        ),
      );
      expect(classifyProcessingError(error)).toMatchObject({
        permanent: true,
        error: { code: 'INVALID_IMAGE' },
      });
    });

    it('rejects bytes that are no image as a permanent UNSUPPORTED_FORMAT', async () => {
      const error = await rejectionOf(
        processImage(
          Buffer.from('this is not an image, just some text'),
          [],
          {},
          limits,
        ),
      );
      expect(classifyProcessingError(error)).toMatchObject({
        permanent: true,
        error: { code: 'UNSUPPORTED_FORMAT' },
      });
    });

    it('rejects a crop outside the image as a permanent INVALID_OPERATION', async () => {
      const error = await rejectionOf(
        processImage(
          jpeg400x300,
          [{ op: 'crop', left: 390, top: 0, width: 20, height: 20 }],
          {},
          limits,
        ),
      );
      const classified = classifyProcessingError(error);
      expect(classified.permanent).toBe(true);
      expect(classified.error.code).toBe('INVALID_OPERATION');
      expect(classified.error.message).toMatch(
        /^An operation does not fit this image: /,
      );
    });

    it('rejects a crop outside the resized image, in a later stage too', async () => {
      const afterResize = await rejectionOf(
        processImage(
          jpeg400x300,
          [
            { op: 'resize', width: 100 },
            { op: 'crop', left: 90, top: 0, width: 20, height: 20 },
          ],
          {},
          limits,
        ),
      );
      expect(classifyProcessingError(afterResize).error.code).toBe(
        'INVALID_OPERATION',
      );
      const laterStage = await rejectionOf(
        processImage(
          jpeg400x300,
          [
            { op: 'blur', sigma: 1 },
            { op: 'crop', left: 0, top: 290, width: 20, height: 20 },
          ],
          {},
          limits,
        ),
      );
      expect(classifyProcessingError(laterStage)).toMatchObject({
        permanent: true,
        error: { code: 'INVALID_OPERATION' },
      });
    });

    it('rejects an input over maxInputPixels as a permanent IMAGE_TOO_LARGE', async () => {
      const error = await rejectionOf(
        processImage(jpeg400x300, [], {}, { maxInputPixels: 400 * 300 - 1 }),
      );
      const classified = classifyProcessingError(error);
      expect(classified.permanent).toBe(true);
      expect(classified.error.code).toBe('IMAGE_TOO_LARGE');
      expect(classified.error.message).toMatch(
        /^The input image is too large: /,
      );
    });

    it('accepts an input of exactly maxInputPixels', async () => {
      const result = await processImage(
        jpeg400x300,
        [],
        {},
        { maxInputPixels: 400 * 300 },
      );
      expect([result.width, result.height]).toEqual([400, 300]);
    });

    it('classifies an unparseable rotate background as permanent', async () => {
      const error = await rejectionOf(
        processImage(
          jpeg400x300,
          [{ op: 'rotate', angle: 45, background: 'not-a-colour' }],
          {},
          limits,
        ),
      );
      expect(classifyProcessingError(error).permanent).toBe(true);
    });
  });

  describe('a file path as input', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'imaging-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads the file itself and keeps its format by default', async () => {
      const path = join(dir, 'in.png');
      await writeFile(path, await makeImage(120, 80, 'png'));
      const result = await processImage(
        path,
        [{ op: 'resize', width: 60 }],
        {},
        limits,
      );
      expect([result.format, result.width, result.height]).toEqual([
        'png',
        60,
        40,
      ]);
      expect((await sharp(result.data).metadata()).format).toBe('png');
    });

    it('gives the same pixels as the same bytes in memory', async () => {
      const bytes = await makeImage(90, 60);
      const path = join(dir, 'same.jpg');
      await writeFile(path, bytes);
      const operations: Operation[] = [
        { op: 'crop', left: 5, top: 5, width: 50, height: 40 },
        { op: 'blur', sigma: 1.5 },
      ];
      const [fromFile, fromMemory] = await Promise.all([
        processImage(path, operations, { format: 'png' }, limits),
        processImage(bytes, operations, { format: 'png' }, limits),
      ]);
      expect(fromFile.data.equals(fromMemory.data)).toBe(true);
    });

    it('a missing file is a permanent INPUT_NOT_FOUND', async () => {
      const error = await rejectionOf(
        processImage(join(dir, 'gone.jpg'), [], { format: 'jpeg' }, limits),
      );
      expect(classifyProcessingError(error)).toMatchObject({
        permanent: true,
        error: { code: 'INPUT_NOT_FOUND' },
      });
    });
  });
});
