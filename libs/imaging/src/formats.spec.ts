import sharp from 'sharp';
import { makeImage } from '../../../test/support/images';
import {
  defaultOutputFormat,
  detectImageFormat,
  InputFormat,
  SNIFF_BYTES,
} from './formats';

describe('detectImageFormat', () => {
  const real = new Map<string, Buffer>();

  beforeAll(async () => {
    const jpeg = await makeImage(64, 48, 'jpeg');
    real.set('jpeg', jpeg);
    real.set('png', await makeImage(64, 48, 'png'));
    real.set('webp', await makeImage(64, 48, 'webp'));
    real.set('gif', await sharp(jpeg).toFormat('gif').toBuffer());
    real.set('tiff', await sharp(jpeg).toFormat('tiff').toBuffer());
    real.set('avif', await sharp(jpeg).toFormat('avif').toBuffer());
  });

  it.each(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'])(
    'recognises a real %s made by sharp',
    (format) => {
      expect(detectImageFormat(real.get(format)!)).toBe(format);
    },
  );

  it.each(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'])(
    `recognises %s from its first SNIFF_BYTES (${SNIFF_BYTES}) bytes alone`,
    (format) => {
      expect(
        detectImageFormat(real.get(format)!.subarray(0, SNIFF_BYTES)),
      ).toBe(format);
    },
  );

  it('agrees with what sharp itself decodes', async () => {
    // sharp names AVIF "heif" (it is a HEIF container); every other format
    // under the same name.
    for (const [format, data] of real) {
      const decoded = (await sharp(data).metadata()).format;
      expect(decoded).toBe(format === 'avif' ? 'heif' : format);
    }
  });

  it.each([
    ['GIF87a', Buffer.from('GIF87a\x01\x00\x01\x00', 'latin1'), 'gif'],
    [
      'big-endian TIFF',
      Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]),
      'tiff',
    ],
    [
      'an AVIF image sequence (avis)',
      Buffer.from('\x00\x00\x00\x1cftypavis\x00\x00\x00\x00', 'latin1'),
      'avif',
    ],
    [
      'HEIC',
      Buffer.from('\x00\x00\x00\x18ftypheic\x00\x00\x00\x00', 'latin1'),
      'heif',
    ],
    [
      'HEIF (mif1)',
      Buffer.from('\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00', 'latin1'),
      'heif',
    ],
  ] as Array<[string, Buffer, InputFormat]>)(
    'recognises a %s header',
    (_label, head, format) => {
      expect(detectImageFormat(head)).toBe(format);
    },
  );

  it('returns null for random bytes', () => {
    // A fixed pseudo-random buffer, so the test cannot pass or fail by chance.
    const bytes = Buffer.alloc(256);
    let seed = 12345;
    for (let i = 0; i < bytes.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      bytes[i] = seed >> 16;
    }
    expect(detectImageFormat(bytes)).toBeNull();
  });

  it.each([
    ['text', Buffer.from('hello, this is not an image')],
    ['a PDF', Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3', 'latin1')],
    [
      'a RIFF file that is not WebP',
      Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'),
    ],
    [
      'an MP4 (ftyp but another brand)',
      Buffer.from('\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00', 'latin1'),
    ],
    [
      'a GIF-like header of an unknown version',
      Buffer.from('GIF88a\x01\x00', 'latin1'),
    ],
    [
      'a BMP',
      Buffer.from('BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00', 'latin1'),
    ],
    ['zeros', Buffer.alloc(32)],
  ])('returns null for %s', (_label, bytes) => {
    expect(detectImageFormat(bytes)).toBeNull();
  });

  it('returns null for an empty buffer', () => {
    expect(detectImageFormat(Buffer.alloc(0))).toBeNull();
  });

  it.each([
    ['jpeg', 2],
    ['png', 7],
    ['webp', 11],
    ['gif', 5],
    ['tiff', 3],
    ['avif', 11],
  ])(
    'returns null for a %s truncated to %d bytes, too short to be sure',
    (format, length) => {
      const head = real.get(format)!.subarray(0, length);
      expect(detectImageFormat(head)).toBeNull();
    },
  );

  it.each([
    ['jpeg', 3],
    ['png', 8],
    ['webp', 12],
    ['gif', 6],
    ['tiff', 4],
    ['avif', 12],
  ])(
    'recognises a %s from its first %d bytes, the least it needs',
    (format, length) => {
      expect(detectImageFormat(real.get(format)!.subarray(0, length))).toBe(
        format,
      );
    },
  );
});

describe('defaultOutputFormat', () => {
  it.each(['jpeg', 'png', 'webp'] as const)(
    'keeps the web format %s',
    (format) => {
      expect(defaultOutputFormat(format)).toBe(format);
    },
  );

  it.each(['gif', 'tiff', 'avif', 'heif'] as const)(
    'turns %s into jpeg',
    (format) => {
      expect(defaultOutputFormat(format)).toBe('jpeg');
    },
  );

  it('gives jpeg for an unknown format', () => {
    expect(defaultOutputFormat(null)).toBe('jpeg');
  });
});
