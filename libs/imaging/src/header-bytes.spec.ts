import { crc32 } from 'node:zlib';
import sharp, { Sharp } from 'sharp';
import { HEADER_BYTES, readHeaderBytes } from './header-bytes';
import { ImageHeader, readImageHeader } from './image-header';

const solid = (width: number, height: number, channels: 3 | 4 = 3) =>
  sharp({
    create: {
      width,
      height,
      channels,
      background: { r: 40, g: 120, b: 200, alpha: 0.5 },
    },
  });

/**
 * Noise, so that encoders produce real entropy-coded data (and bigger files).
 */
function noise(width: number, height: number, channels: 3 | 4 = 3): Sharp {
  const pixels = Buffer.alloc(width * height * channels);
  let seed = width * 31 + height;
  for (let i = 0; i < pixels.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    pixels[i] = seed >> 16;
  }
  return sharp(pixels, { raw: { width, height, channels } });
}

async function animation(
  width: number,
  height: number,
  frames: number,
  encode: (image: Sharp) => Sharp,
): Promise<Buffer> {
  const colours = ['#f00', '#0f0', '#00f', '#ff0', '#0ff', '#f0f'];
  const pages = await Promise.all(
    Array.from({ length: frames }, (_, i) =>
      sharp({
        create: {
          width,
          height,
          channels: 4,
          background: colours[i % colours.length],
        },
      })
        .png()
        .toBuffer(),
    ),
  );
  return encode(sharp(pages, { join: { animated: true } })).toBuffer();
}

/**
 * What sharp's metadata says of `bytes` (as readImageHeader in the producer
 * reads it), or null where it fails.
 */
async function sharpHeader(bytes: Buffer): Promise<ImageHeader | null> {
  return readImageHeader(bytes, { limitInputPixels: false }).catch(() => null);
}

/** Deterministic pseudo-random numbers, so that a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

const SIZES: [number, number][] = [
  [1, 1],
  [7, 3],
  [64, 64],
  [333, 17],
  [17, 333],
  [640, 480],
  [1024, 768],
  [2500, 40],
];
const ORIENTATIONS = [1, 2, 3, 4, 5, 6, 7, 8];

/** Every kind of image the pure reader is meant to read, as sharp writes it. */
async function samples(): Promise<{ name: string; bytes: Buffer }[]> {
  const list: { name: string; bytes: Buffer }[] = [];
  const add = async (name: string, image: Sharp | Promise<Buffer>) =>
    list.push({
      name,
      bytes: image instanceof Promise ? await image : await image.toBuffer(),
    });
  for (const [width, height] of SIZES) {
    const size = `${width}x${height}`;
    await add(`jpeg ${size}`, solid(width, height).jpeg());
    await add(`jpeg noise ${size}`, noise(width, height).jpeg({ quality: 95 }));
    await add(
      `jpeg progressive ${size}`,
      noise(width, height).jpeg({ progressive: true }),
    );
    await add(
      `jpeg 4:4:4 q100 ${size}`,
      solid(width, height).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }),
    );
    await add(
      `jpeg grey ${size}`,
      solid(width, height).toColourspace('b-w').jpeg(),
    );
    await add(
      `jpeg mozjpeg ${size}`,
      noise(width, height).jpeg({ mozjpeg: true }),
    );
    await add(`png ${size}`, solid(width, height).png());
    await add(`png noise alpha ${size}`, noise(width, height, 4).png());
    await add(
      `png interlaced ${size}`,
      noise(width, height).png({ progressive: true }),
    );
    await add(
      `png 16-bit ${size}`,
      solid(width, height).toColourspace('rgb16').png(),
    );
    await add(
      `png grey 16-bit ${size}`,
      solid(width, height).toColourspace('grey16').png(),
    );
    await add(
      `png palette ${size}`,
      noise(width, height).png({ palette: true, colours: 16 }),
    );
    await add(
      `png grey ${size}`,
      solid(width, height).toColourspace('b-w').png(),
    );
    await add(`webp lossy ${size}`, noise(width, height).webp());
    await add(
      `webp lossless ${size}`,
      noise(width, height).webp({ lossless: true }),
    );
    await add(`webp alpha ${size}`, noise(width, height, 4).webp());
    await add(
      `webp lossless alpha ${size}`,
      solid(width, height, 4).webp({ lossless: true }),
    );
    await add(`gif ${size}`, noise(width, height).gif());
    for (const orientation of ORIENTATIONS) {
      await add(
        `jpeg orientation ${orientation} ${size}`,
        solid(width, height).jpeg().withMetadata({ orientation }),
      );
      await add(
        `png orientation ${orientation} ${size}`,
        solid(width, height).png().withMetadata({ orientation }),
      );
      await add(
        `webp orientation ${orientation} ${size}`,
        solid(width, height).webp().withMetadata({ orientation }),
      );
    }
  }
  for (const orientation of ORIENTATIONS) {
    await add(
      `jpeg exif only, orientation ${orientation}`,
      solid(30, 20)
        .jpeg()
        .withExif({
          IFD0: { Orientation: String(orientation), Copyright: 'test' },
        }),
    );
  }
  for (const [width, height, frames] of [
    [10, 30, 2],
    [64, 48, 3],
    [640, 480, 4],
    [300, 7, 6],
  ]) {
    await add(
      `webp animated ${width}x${height}×${frames}`,
      animation(width, height, frames, (image) => image.webp()),
    );
    await add(
      `webp animated lossless ${width}x${height}×${frames}`,
      animation(width, height, frames, (image) =>
        image.webp({ lossless: true }),
      ),
    );
    await add(
      `gif animated ${width}x${height}×${frames}`,
      animation(width, height, frames, (image) => image.gif()),
    );
  }
  return list;
}

/** The pure reader may decline (null), never disagree with sharp. */
async function expectNoDisagreement(
  head: Buffer,
  complete: boolean,
  whole: Buffer,
  label: string,
): Promise<'read' | 'declined'> {
  const pure = readHeaderBytes(head, complete);
  if (pure === null) return 'declined';
  const expected = await sharpHeader(whole);
  if (expected === null || JSON.stringify(expected) !== JSON.stringify(pure)) {
    throw new Error(
      `${label}: the pure reader says ${JSON.stringify(pure)}, sharp ${JSON.stringify(expected)}`,
    );
  }
  return 'read';
}

describe('readHeaderBytes', () => {
  let images: { name: string; bytes: Buffer }[];
  beforeAll(async () => {
    images = await samples();
  }, 120_000);

  it('reads what sharp reads from every JPEG, PNG, WebP and GIF sharp writes', async () => {
    const declined: string[] = [];
    for (const { name, bytes } of images) {
      const pure = readHeaderBytes(bytes, true);
      if (pure === null) declined.push(name);
      else
        expect({ name, ...pure }).toEqual({
          name,
          ...(await sharpHeader(bytes)),
        });
    }
    expect(declined).toEqual([]);
  });

  it('reads a JPEG, PNG or WebP from its first bytes only, and declines a GIF or animation that goes on', async () => {
    for (const { name, bytes } of images) {
      const head = bytes.subarray(0, Math.min(bytes.length, HEADER_BYTES));
      const pure = readHeaderBytes(head, head.length === bytes.length);
      if (pure === null) {
        expect({ name, size: bytes.length, declined: true }).toEqual({
          name,
          size: bytes.length,
          declined: bytes.length > HEADER_BYTES,
        });
      } else {
        expect({ name, ...pure }).toEqual({
          name,
          ...(await sharpHeader(bytes)),
        });
      }
    }
  });

  it('declines, rather than guesses, on every truncation of every sample', async () => {
    for (const { name, bytes } of images.filter((_, i) => i % 3 === 0)) {
      const cuts = new Set<number>();
      for (let length = 0; length < Math.min(bytes.length, 400); length++)
        cuts.add(length);
      for (let step = 1; step < 40; step++)
        cuts.add(Math.floor((bytes.length * step) / 40));
      for (const length of cuts) {
        const head = bytes.subarray(0, length);
        // The start of a longer file: only sharp's reading of that file counts.
        await expectNoDisagreement(
          head,
          false,
          bytes,
          `${name}, first ${length} bytes of ${bytes.length}`,
        );
        // A file cut short.
        await expectNoDisagreement(
          head,
          true,
          head,
          `${name}, cut to ${length} bytes of ${bytes.length}`,
        );
      }
    }
  }, 300_000);

  it('declines, rather than guesses, on corrupt bytes in and around the header', async () => {
    const next = random(7);
    let read = 0;
    for (const { name, bytes } of images) {
      for (let trial = 0; trial < 30; trial++) {
        const corrupt = Buffer.from(bytes);
        const changes = 1 + Math.floor(next() * 3);
        for (let c = 0; c < changes; c++) {
          const at = Math.floor(next() * Math.min(corrupt.length, 300));
          corrupt[at] =
            next() < 0.5
              ? corrupt[at] ^ (1 << Math.floor(next() * 8))
              : Math.floor(next() * 256);
        }
        if (
          (await expectNoDisagreement(
            corrupt,
            true,
            corrupt,
            `${name}, corrupted (trial ${trial})`,
          )) === 'read'
        )
          read++;
      }
    }
    // Most changes fall in pixel data or metadata that does not matter: those
    // are still read.
    expect(read).toBeGreaterThan(0);
  }, 300_000);

  it('declines the formats it does not read, and bytes no format starts with', async () => {
    expect(
      readHeaderBytes(await solid(5, 6).tiff().toBuffer(), true),
    ).toBeNull();
    expect(
      readHeaderBytes(await solid(16, 16).avif().toBuffer(), true),
    ).toBeNull();
    expect(
      readHeaderBytes(Buffer.from('not an image at all'), true),
    ).toBeNull();
    expect(readHeaderBytes(Buffer.alloc(0), true)).toBeNull();
  });

  it('declines a JPEG whose EXIF gives an orientation out of range, twice, or of another type', async () => {
    const jpeg = await solid(30, 20)
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const tag = jpeg.indexOf(
      Buffer.from([0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00]),
    );
    expect(tag).toBeGreaterThan(0);
    const variants = [
      (bytes: Buffer) => bytes.writeUInt16LE(9, tag + 8),
      (bytes: Buffer) => bytes.writeUInt16LE(0, tag + 8),
      (bytes: Buffer) => bytes.writeUInt16LE(4, tag + 2), // LONG
      (bytes: Buffer) => bytes.writeUInt32LE(2, tag + 4), // two values
    ];
    for (const change of variants) {
      const bytes = Buffer.from(jpeg);
      change(bytes);
      expect(readHeaderBytes(bytes, true)).toBeNull();
    }
  });

  it('reads the orientation of EXIF in either byte order, after other tags; declines an unusual one (sharp may read it otherwise)', async () => {
    const jpeg = await solid(30, 20).jpeg().toBuffer();
    /**
     * The JPEG with an EXIF APP1 of IFD0 entries [tag, type, count, value]
     * only.
     */
    const withExif = (
      order: 'II' | 'MM',
      entries: [number, number, number, number][],
    ) => {
      const tiff = Buffer.alloc(8 + 2 + 12 * entries.length + 4);
      const little = order === 'II';
      const u16 = (value: number, at: number) =>
        little ? tiff.writeUInt16LE(value, at) : tiff.writeUInt16BE(value, at);
      const u32 = (value: number, at: number) =>
        little ? tiff.writeUInt32LE(value, at) : tiff.writeUInt32BE(value, at);
      tiff.write(order, 0, 'latin1');
      u16(42, 2);
      u32(8, 4);
      u16(entries.length, 8);
      entries.forEach(([tag, type, count, value], i) => {
        u16(tag, 10 + 12 * i);
        u16(type, 12 + 12 * i);
        u32(count, 14 + 12 * i);
        if (type === 3) u16(value, 18 + 12 * i);
        else u32(value, 18 + 12 * i);
      });
      const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
      const marker = Buffer.from([0xff, 0xe1, 0, 0]);
      marker.writeUInt16BE(payload.length + 2, 2);
      return Buffer.concat([
        jpeg.subarray(0, 2),
        marker,
        payload,
        jpeg.subarray(2),
      ]);
    };
    const make = 0x010f;
    for (const order of ['II', 'MM'] as const) {
      for (const entries of [
        [[0x0112, 3, 1, 6]],
        [
          [make, 2, 4, 0x41424300],
          [0x0112, 3, 1, 3],
        ],
        [],
      ] as [number, number, number, number][][]) {
        const bytes = withExif(order, entries);
        expect(readHeaderBytes(bytes, true)).toEqual(await sharpHeader(bytes));
        expect(readHeaderBytes(bytes, true)).not.toBeNull();
      }
      for (const entries of [
        [[0x0112, 4, 1, 6]],
        [
          [0x0112, 3, 1, 6],
          [0x0112, 3, 1, 3],
        ],
        [[0x0112, 3, 1, 9]],
        [[0x0112, 3, 1, 0]],
        [[0x0112, 8, 1, 5]],
      ] as [number, number, number, number][][]) {
        expect(readHeaderBytes(withExif(order, entries), true)).toBeNull();
      }
    }
  });

  it('reads a size bomb from its header as sharp does; declines one past the sizes it vouches for', async () => {
    const declared = async (width: number, height: number, fixCrc: boolean) => {
      const png = Buffer.from(await solid(1, 1).png().toBuffer());
      png.writeUInt32BE(width, 16);
      png.writeUInt32BE(height, 20);
      if (fixCrc) png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
      return png;
    };
    const bomb = await declared(60_000, 60_000, true);
    expect(readHeaderBytes(bomb, true)).toEqual(await sharpHeader(bomb));
    expect(readHeaderBytes(bomb, true)).toMatchObject({
      width: 60_000,
      height: 60_000,
    });
    expect(
      readHeaderBytes(await declared(100_000, 100_000, true), true),
    ).toBeNull();
    expect(
      readHeaderBytes(await declared(60_000, 60_000, false), true),
    ).toBeNull(); // its CRC no longer matches
  });
});
