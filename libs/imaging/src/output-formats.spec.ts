import { OutputOptions } from '@pipeline/contracts';
import sharp from 'sharp';
import { makeImage } from '../../../test/support/images';
import { processImage } from './process-image';

const limits = { maxInputPixels: 50_000_000 };

describe('output encodings', () => {
  let png: Buffer;
  beforeAll(async () => {
    png = await makeImage(64, 48, 'png');
  });

  it.each<[string, OutputOptions, string]>([
    ['jpeg', { format: 'jpeg', quality: 70 }, 'jpeg'],
    ['png', { format: 'png', effort: 2 }, 'png'],
    ['webp', { format: 'webp', quality: 60, effort: 1 }, 'webp'],
    ['avif', { format: 'avif', effort: 0 }, 'heif'],
    ['tiff', { format: 'tiff' }, 'tiff'],
    ['gif', { format: 'gif', effort: 3 }, 'gif'],
  ])(
    'encodes %s, which decodes with the same size',
    async (_name, output, decodedFormat) => {
      const result = await processImage(png, [], output, limits);
      const metadata = await sharp(result.data).metadata();
      expect(result.format).toBe(output.format);
      expect([metadata.format, metadata.width, metadata.height]).toEqual([
        decodedFormat,
        64,
        48,
      ]);
    },
  );

  it('progressive jpeg is progressive, baseline is not', async () => {
    const progressive = await processImage(
      png,
      [],
      { format: 'jpeg', progressive: true },
      limits,
    );
    const baseline = await processImage(png, [], { format: 'jpeg' }, limits);
    expect((await sharp(progressive.data).metadata()).isProgressive).toBe(true);
    expect((await sharp(baseline.data).metadata()).isProgressive).toBe(false);
  });

  it.each<['webp' | 'avif']>([['webp'], ['avif']])(
    'lossless %s keeps every pixel',
    async (format) => {
      const result = await processImage(
        png,
        [],
        { format, lossless: true },
        limits,
      );
      const [decoded, original] = await Promise.all([
        sharp(result.data).raw().toBuffer(),
        sharp(png).raw().toBuffer(),
      ]);
      expect(decoded.equals(original)).toBe(true);
    },
  );

  it('lossy webp does not keep every pixel (so the lossless test can tell)', async () => {
    const result = await processImage(
      png,
      [],
      { format: 'webp', quality: 50 },
      limits,
    );
    const [decoded, original] = await Promise.all([
      sharp(result.data).raw().toBuffer(),
      sharp(png).raw().toBuffer(),
    ]);
    expect(decoded.equals(original)).toBe(false);
  });

  it('a tiff with a quality is JPEG-compressed inside, and smaller', async () => {
    const lossless = await processImage(png, [], { format: 'tiff' }, limits);
    const lossy = await processImage(
      png,
      [],
      { format: 'tiff', quality: 50 },
      limits,
    );
    expect((await sharp(lossy.data).metadata()).format).toBe('tiff');
    expect(lossy.data.length).toBeLessThan(lossless.data.length);
  });
});
