import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { allowOnlyDecoders, INPUT_FORMATS } from './decoders';
import { HEADER_BYTES, readHeaderBytes } from './header-bytes';
import {
  readImageHeader,
  readInputHeader,
  readSupportedImageHeader,
  uprightSize,
} from './image-header';

const solid = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#336699' } });

/**
 * A PNG whose header declares `width`×`height` over the pixels of a 1×1 image:
 * decoding it would fail, or take gigabytes.
 */
async function declaredPng(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await solid(1, 1).png().toBuffer());
  // The IHDR chunk: length (4), type (4), width, height, … and its CRC after
  // 13 bytes of data.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

describe('readImageHeader', () => {
  beforeAll(() => {
    // libvips' block list is process-wide, and a worker an earlier test file
    // ran in this process may have left every loader but the allowed ones
    // blocked: these tests need SVG's.
    sharp.unblock({ operation: ['VipsForeignLoad'] });
  });

  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'image-header-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads the format, size, orientation and frames of bytes and of a file', async () => {
    const png = await solid(40, 30).png().toBuffer();
    expect(await readImageHeader(png)).toEqual({
      format: 'png',
      width: 40,
      height: 30,
      orientation: 1,
      pages: 1,
    });
    const path = join(dir, 'turned.jpg');
    await writeFile(
      path,
      await solid(40, 30).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
    );
    expect(await readImageHeader(path)).toEqual({
      format: 'jpeg',
      width: 40,
      height: 30,
      orientation: 6,
      pages: 1,
    });
  });

  it('gives the size of one frame of an animation, and the number of frames', async () => {
    const frame = (colour: string) =>
      sharp({
        create: { width: 10, height: 30, channels: 4, background: colour },
      })
        .png()
        .toBuffer();
    const gif = await sharp(
      [await frame('#f00'), await frame('#0f0'), await frame('#00f')],
      { join: { animated: true } },
    )
      .gif()
      .toBuffer();
    expect(await readImageHeader(gif)).toMatchObject({
      format: 'gif',
      width: 10,
      height: 30,
      pages: 3,
    });
  });

  it('reads a size bomb from its header without decoding it', async () => {
    const bomb = await declaredPng(100_000, 100_000);
    expect(
      await readImageHeader(bomb, { limitInputPixels: false }),
    ).toMatchObject({ width: 100_000, height: 100_000 });
    expect(await readSupportedImageHeader(bomb)).toMatchObject({
      width: 100_000,
      height: 100_000,
    });
    await expect(
      sharp(bomb, { limitInputPixels: false }).raw().toBuffer(),
    ).rejects.toThrow();
  });

  it('fails as sharp does over limitInputPixels, or on bytes that are no image', async () => {
    await expect(
      readImageHeader(await declaredPng(10_000, 10_000), {
        limitInputPixels: 1_000_000,
      }),
    ).rejects.toThrow(/exceeds pixel limit/);
    await expect(
      readImageHeader(Buffer.from('not an image at all')),
    ).rejects.toThrow(/unsupported image format/);
  });

  describe('readSupportedImageHeader', () => {
    it('reads a supported image, bytes or file', async () => {
      const path = join(dir, 'photo.webp');
      await writeFile(path, await solid(21, 12).webp().toBuffer());
      expect(await readSupportedImageHeader(path)).toMatchObject({
        format: 'webp',
        width: 21,
        height: 12,
      });
      expect(
        await readSupportedImageHeader(await solid(5, 6).tiff().toBuffer()),
      ).toMatchObject({ format: 'tiff', width: 5, height: 6 });
    });

    it('reads from the first bytes given, without opening the input', async () => {
      const jpeg = await solid(40, 30)
        .jpeg()
        .withMetadata({ orientation: 8 })
        .toBuffer();
      expect(
        await readSupportedImageHeader(join(dir, 'not-there.jpg'), {
          head: jpeg,
          complete: true,
        }),
      ).toEqual({
        format: 'jpeg',
        width: 40,
        height: 30,
        orientation: 8,
        pages: 1,
      });
    });

    it('asks sharp when the header lies beyond the first bytes read, or the frames of an animation do', async () => {
      // Comments before the frame header push it past HEADER_BYTES.
      const jpeg = await solid(40, 30).jpeg().toBuffer();
      const comment = Buffer.concat([
        Buffer.from([0xff, 0xfe, 0xff, 0xff]),
        Buffer.alloc(0xfffd, 0x20),
      ]);
      const late = Buffer.concat([
        jpeg.subarray(0, 2),
        comment,
        comment,
        jpeg.subarray(2),
      ]);
      expect(late.length).toBeGreaterThan(HEADER_BYTES);
      expect(readHeaderBytes(late.subarray(0, HEADER_BYTES), false)).toBeNull();
      await writeFile(join(dir, 'late.jpg'), late);
      expect(await readSupportedImageHeader(join(dir, 'late.jpg'))).toEqual({
        format: 'jpeg',
        width: 40,
        height: 30,
        orientation: 1,
        pages: 1,
      });

      const noise = (i: number) =>
        Buffer.from(
          Array.from(
            { length: 160 * 120 * 3 },
            (_, j) => (j * 7919 + i * 104729) % 251,
          ),
        );
      const noisy = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          sharp(noise(i), { raw: { width: 160, height: 120, channels: 3 } })
            .png()
            .toBuffer(),
        ),
      );
      const gif = await sharp(noisy, { join: { animated: true } })
        .gif()
        .toBuffer();
      expect(gif.length).toBeGreaterThan(HEADER_BYTES);
      await writeFile(join(dir, 'long.gif'), gif);
      expect(await readSupportedImageHeader(join(dir, 'long.gif'))).toEqual({
        format: 'gif',
        width: 160,
        height: 120,
        orientation: 1,
        pages: 24,
      });
    });

    it('is null for a format this service does not decode (never handed to its parser), a corrupt header, or a missing file', async () => {
      const svg = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="2000"></svg>',
      );
      expect(await readImageHeader(svg)).toMatchObject({ format: 'svg' });
      expect(await readSupportedImageHeader(svg)).toBeNull();
      const truncated = (await solid(40, 30).png().toBuffer()).subarray(0, 20);
      expect(await readSupportedImageHeader(truncated)).toBeNull();
      expect(
        await readSupportedImageHeader(join(dir, 'missing.png')),
      ).toBeNull();
    });
  });
});

describe('readInputHeader', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'input-header-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  afterEach(() => {
    jest.restoreAllMocks();
    // As it was: every loader allowed (libvips' block list is process-wide).
    allowOnlyDecoders(INPUT_FORMATS);
    sharp.unblock({ operation: ['VipsForeignLoad'] });
  });

  const limits = { limitInputPixels: 1_000_000, failOn: 'warning' } as const;
  const metadataCalls = () => jest.spyOn(sharp.prototype, 'metadata');

  it('reads JPEG, PNG, WebP and GIF headers, file or bytes, as sharp would, without libvips', async () => {
    const path = join(dir, 'turned.jpg');
    await writeFile(
      path,
      await solid(40, 30).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
    );
    const inputs: Array<Buffer | string> = [
      path,
      await solid(33, 21).png().toBuffer(),
      await solid(17, 9).webp().toBuffer(),
      await solid(8, 5).gif().toBuffer(),
    ];
    const bySharp = await Promise.all(
      inputs.map((input) => readImageHeader(input, limits)),
    );
    const calls = metadataCalls();
    for (const [i, input] of inputs.entries())
      expect(await readInputHeader(input, limits)).toEqual(bySharp[i]);
    expect(calls).not.toHaveBeenCalled();
  });

  it('asks sharp for other formats, for a format whose decoder is blocked, and for an input over the pixel limit, failing as it does', async () => {
    const calls = metadataCalls();
    expect(
      await readInputHeader(await solid(5, 6).tiff().toBuffer(), limits),
    ).toMatchObject({ format: 'tiff', width: 5, height: 6 });
    expect(calls).toHaveBeenCalledTimes(1);

    await expect(
      readInputHeader(await declaredPng(10_000, 10_000), limits),
    ).rejects.toThrow(/exceeds pixel limit/);
    expect(calls).toHaveBeenCalledTimes(2);

    allowOnlyDecoders(['png']);
    await expect(
      readInputHeader(await solid(40, 30).jpeg().toBuffer(), limits),
    ).rejects.toThrow();
    expect(calls).toHaveBeenCalledTimes(3);
  });

  it('leaves a file it cannot read to sharp, with its words for it', async () => {
    await expect(
      readInputHeader(join(dir, 'missing.jpg'), limits),
    ).rejects.toThrow(/Input file is missing/);
  });
});

describe('uprightSize', () => {
  it.each([
    [1, { width: 40, height: 30 }],
    [2, { width: 40, height: 30 }],
    [3, { width: 40, height: 30 }],
    [4, { width: 40, height: 30 }],
    [5, { width: 30, height: 40 }],
    [6, { width: 30, height: 40 }],
    [7, { width: 30, height: 40 }],
    [8, { width: 30, height: 40 }],
  ])('orientation %i', (orientation, size) => {
    expect(
      uprightSize({
        format: 'jpeg',
        width: 40,
        height: 30,
        orientation,
        pages: 1,
      }),
    ).toEqual(size);
  });

  it('agrees with the size sharp gives once it has turned the image upright', async () => {
    for (const orientation of [1, 3, 5, 6, 8]) {
      const input = await solid(40, 30)
        .jpeg()
        .withMetadata({ orientation })
        .toBuffer();
      const { info } = await sharp(input)
        .autoOrient()
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect(uprightSize(await readImageHeader(input))).toEqual({
        width: info.width,
        height: info.height,
      });
    }
  });
});
