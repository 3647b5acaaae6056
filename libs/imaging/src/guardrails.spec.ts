import sharp from 'sharp';
import { bombPng, makeImage } from '../../../test/support/images';
import { classifyProcessingError } from './classify-error';
import { Deadline } from './deadline';
import { allowOnlyDecoders, INPUT_FORMATS } from './decoders';
import { processImage, processVariants } from './process-image';

const limits = { maxInputPixels: 50_000_000 };

async function failureOf(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return classifyProcessingError(error);
  }
  throw new Error('expected the processing to fail');
}

const svg = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30" fill="red"/></svg>',
);

describe('guardrails against hostile inputs', () => {
  afterAll(() => {
    // The block list is process-wide: leave libvips as other test files expect
    // it.
    sharp.unblock({ operation: ['VipsForeignLoad'] });
  });

  it('refuses a decompression bomb from its header, before decoding, as IMAGE_TOO_LARGE', async () => {
    const bomb = bombPng();
    expect(bomb.length).toBeLessThan(2000);
    const before = process.memoryUsage().rss;
    const failure = await failureOf(
      processImage(bomb, [{ op: 'resize', width: 100 }], {}, limits),
    );
    expect(failure).toMatchObject({
      permanent: true,
      error: { code: 'IMAGE_TOO_LARGE' },
    });
    // 30000×30000×3 bytes would be 2.7 GB; nothing of the sort was allocated.
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  describe('the images operations make, over maxOutputPixels', () => {
    const bounded = { ...limits, maxOutputPixels: 50_000_000 };
    // A 1×1 PNG blown up, padded on every side, then flipped: a stage of
    // 49152×49152 pixels.
    const blownUp = [
      { op: 'resize', width: 16384, height: 16384, fit: 'fill' },
      { op: 'extend', top: 16384, bottom: 16384, left: 16384, right: 16384 },
      { op: 'flip' },
    ] as const;

    it('refuses a chain from the header, before decoding, as IMAGE_TOO_LARGE naming the operation and the limit', async () => {
      const tiny = await makeImage(1, 1, 'png');
      const before = process.memoryUsage().rss;
      const started = performance.now();
      const failure = await failureOf(
        processImage(tiny, [...blownUp], { format: 'png' }, bounded),
      );
      expect(failure).toEqual({
        permanent: true,
        error: {
          code: 'IMAGE_TOO_LARGE',
          message:
            'The operations would make too large an image: operations[0] (resize) would make a 16384×16384 image (268435456 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
        },
      });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(process.memoryUsage().rss - before).toBeLessThan(
        100 * 1024 * 1024,
      );
    });

    it('names the variant whose operations are too large, counting the shared ones', async () => {
      const input = await makeImage(100, 100, 'png');
      const variants = [
        {
          name: 'small',
          operations: [{ op: 'resize' as const, width: 10 }],
          output: {},
        },
        {
          name: 'huge',
          operations: [
            { op: 'flip' as const },
            { op: 'extend' as const, right: 1500 },
          ],
          output: {},
        },
      ];
      const failure = await failureOf(
        processVariants(input, [{ op: 'resize', width: 500 }], variants, {
          ...limits,
          maxOutputPixels: 999_999,
        }),
      );
      expect(failure?.error.message).toMatch(
        /outputs\[1\]\.operations\[1\] \(extend\) would make a 2000×500 image \(1000000 pixels\); the limit is 999999 /,
      );
      await expect(
        processVariants(input, [{ op: 'resize', width: 500 }], variants, {
          ...limits,
          maxOutputPixels: 1_000_000,
        }),
      ).resolves.toHaveLength(2);
    });

    it('judges what follows a trim from what the trim kept, before it runs', async () => {
      // A 2×100 dark stripe on a white 200×100 image: trimmed, then resized to
      // 16384 wide, it would be 16384×819200.
      const striped = await sharp({
        create: { width: 200, height: 100, channels: 3, background: '#ffffff' },
      })
        .composite([
          {
            input: {
              create: {
                width: 2,
                height: 100,
                channels: 3,
                background: '#000000',
              },
            },
            left: 99,
            top: 0,
          },
        ])
        .png()
        .toBuffer();
      const started = performance.now();
      const failure = await failureOf(
        processImage(
          striped,
          [{ op: 'trim' }, { op: 'resize', width: 16384 }],
          { format: 'png' },
          bounded,
        ),
      );
      expect(failure).toMatchObject({
        permanent: true,
        error: { code: 'IMAGE_TOO_LARGE' },
      });
      expect(failure?.error.message).toContain(
        'operations[1] (resize) would make a 16384×819200 image',
      );
      expect(performance.now() - started).toBeLessThan(2000);
      await expect(
        processImage(
          striped,
          [{ op: 'trim' }, { op: 'resize', width: 20 }],
          { format: 'png' },
          bounded,
        ),
      ).resolves.toMatchObject({ width: 20, height: 1000 });
    });

    it('makes an image of exactly the limit', async () => {
      await expect(
        processImage(
          await makeImage(10, 10, 'png'),
          [
            { op: 'resize', width: 100, height: 50, fit: 'fill' },
            { op: 'flip' },
          ],
          { format: 'png' },
          { ...limits, maxOutputPixels: 5000 },
        ),
      ).resolves.toMatchObject({ width: 100, height: 50 });
    });
  });

  it('decodes only the allowed formats: SVG and formats left out fail as UNSUPPORTED_FORMAT', async () => {
    allowOnlyDecoders(['jpeg', 'png']);
    const webp = await makeImage(40, 30, 'webp');
    expect(
      await failureOf(processImage(webp, [], { format: 'png' }, limits)),
    ).toMatchObject({ permanent: true, error: { code: 'UNSUPPORTED_FORMAT' } });
    expect(
      await failureOf(processImage(svg, [], { format: 'png' }, limits)),
    ).toMatchObject({ permanent: true, error: { code: 'UNSUPPORTED_FORMAT' } });
    await expect(
      processImage(await makeImage(40, 30, 'jpeg'), [], {}, limits),
    ).resolves.toMatchObject({ format: 'jpeg', width: 40, height: 30 });

    allowOnlyDecoders(INPUT_FORMATS);
    await expect(processImage(webp, [], {}, limits)).resolves.toMatchObject({
      format: 'webp',
      width: 40,
      height: 30,
    });
    for (const format of ['gif', 'tiff', 'avif'] as const) {
      const input = await sharp({
        create: { width: 12, height: 8, channels: 3, background: '#336699' },
      })
        .toFormat(format)
        .toBuffer();
      await expect(
        processImage(input, [], { format: 'png' }, limits),
      ).resolves.toMatchObject({ width: 12, height: 8 });
    }
    expect(
      await failureOf(processImage(svg, [], { format: 'png' }, limits)),
    ).toMatchObject({ error: { code: 'UNSUPPORTED_FORMAT' } });
  });

  it('refuses an animation with more frames than the limit, from its header, as IMAGE_TOO_LARGE', async () => {
    const frames = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        sharp({
          create: {
            width: 10,
            height: 8,
            channels: 3,
            background: { r: i * 40, g: 0, b: 0 },
          },
        })
          .png()
          .toBuffer(),
      ),
    );
    const animation = await sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer();
    const failure = await failureOf(
      processImage(
        animation,
        [],
        { format: 'png' },
        { ...limits, maxInputFrames: 4 },
      ),
    );
    expect(failure).toEqual({
      permanent: true,
      error: { code: 'IMAGE_TOO_LARGE', message: failure?.error.message },
    });
    expect(failure?.error.message).toContain(
      '5 frames, which exceeds frame limit of 4',
    );
    await expect(
      processImage(
        animation,
        [],
        { format: 'png' },
        { ...limits, maxInputFrames: 5 },
      ),
    ).resolves.toMatchObject({ width: 10, height: 8 });
  });

  it('converts a tagged colour profile to sRGB and strips the metadata, also across stages', async () => {
    // sRGB red stored with a Display P3 profile holds other values (about 234,
    // 51, 35) and an EXIF block.
    const tagged = await sharp({
      create: { width: 16, height: 16, channels: 3, background: '#ff0000' },
    })
      .withIccProfile('p3')
      .withExif({
        IFD0: { Copyright: 'secret owner', ImageDescription: 'private' },
      })
      .jpeg({ quality: 100 })
      .toBuffer();
    const stored = await sharp(tagged).keepIccProfile().raw().toBuffer();
    expect(stored[1]).toBeGreaterThan(30);
    for (const operations of [
      [],
      [{ op: 'blur', sigma: 1 }, { op: 'resize', width: 8 }, { op: 'flip' }],
    ] as const) {
      const output = await processImage(
        tagged,
        [...operations],
        { format: 'png' },
        limits,
      );
      const metadata = await sharp(output.data).metadata();
      expect([metadata.icc, metadata.exif, metadata.space]).toEqual([
        undefined,
        undefined,
        'srgb',
      ]);
      const pixels = await sharp(output.data).raw().toBuffer();
      expect(pixels[0]).toBeGreaterThan(245);
      expect(pixels[1]).toBeLessThan(10);
    }
  });

  it('stops an image that runs past the time limit, as PROCESSING_TIMEOUT', async () => {
    const big = await sharp({
      create: { width: 3000, height: 3000, channels: 3, background: '#345678' },
    })
      .png({ compressionLevel: 1 })
      .toBuffer();
    const failure = await failureOf(
      processImage(
        big,
        [{ op: 'blur', sigma: 400 }],
        { format: 'jpeg' },
        { ...limits, deadline: Deadline.after(1000) },
      ),
    );
    expect(failure).toMatchObject({
      permanent: true,
      error: { code: 'PROCESSING_TIMEOUT' },
    });
  });

  it('holds the whole job to one deadline: stages and variants that each stay under it are stopped when their sum does not', async () => {
    const big = await sharp({
      create: { width: 2000, height: 2000, channels: 3, background: '#345678' },
    })
      .png({ compressionLevel: 1 })
      .toBuffer();
    // Each blur is its own stage, and each variant its own pipelines: none
    // alone nears the limit.
    const blurs = Array.from({ length: 8 }, (_, index) => ({
      op: 'blur' as const,
      sigma: 20 + index,
    }));
    const variants = Array.from({ length: 8 }, (_, index) => ({
      name: `v${index}`,
      operations: blurs,
      output: { format: 'jpeg' as const },
    }));
    const began = performance.now();
    const failure = await failureOf(
      processVariants(big, [], variants, {
        ...limits,
        deadline: Deadline.after(1500),
      }),
    );
    const seconds = (performance.now() - began) / 1000;
    expect(failure).toMatchObject({
      permanent: true,
      error: { code: 'PROCESSING_TIMEOUT' },
    });
    expect(seconds).toBeGreaterThanOrEqual(1.45);
    expect(seconds).toBeLessThan(1.5 * 1.1);
  });
});
