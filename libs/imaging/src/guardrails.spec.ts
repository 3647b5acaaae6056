import sharp from 'sharp';
import { bombPng, makeImage } from '../../../test/support/images';
import { classifyProcessingError } from './classify-error';
import { allowOnlyDecoders, INPUT_FORMATS } from './decoders';
import { processImage } from './process-image';

const limits = { maxInputPixels: 50_000_000 };

async function failureOf(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return classifyProcessingError(error);
  }
  throw new Error('expected the processing to fail');
}

const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30" fill="red"/></svg>');

describe('guardrails against hostile inputs', () => {
  afterAll(() => {
    // The block list is process-wide: leave libvips as other test files expect it.
    sharp.unblock({ operation: ['VipsForeignLoad'] });
  });

  it('refuses a decompression bomb from its header, before decoding, as IMAGE_TOO_LARGE', async () => {
    const bomb = bombPng();
    expect(bomb.length).toBeLessThan(2000);
    const before = process.memoryUsage().rss;
    const failure = await failureOf(processImage(bomb, [{ op: 'resize', width: 100 }], {}, limits));
    expect(failure).toMatchObject({ permanent: true, error: { code: 'IMAGE_TOO_LARGE' } });
    // 30000×30000×3 bytes would be 2.7 GB; nothing of the sort was allocated.
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('decodes only the allowed formats: SVG and formats left out fail as UNSUPPORTED_FORMAT', async () => {
    allowOnlyDecoders(['jpeg', 'png']);
    const webp = await makeImage(40, 30, 'webp');
    expect(await failureOf(processImage(webp, [], { format: 'png' }, limits))).toMatchObject({ permanent: true, error: { code: 'UNSUPPORTED_FORMAT' } });
    expect(await failureOf(processImage(svg, [], { format: 'png' }, limits))).toMatchObject({ permanent: true, error: { code: 'UNSUPPORTED_FORMAT' } });
    await expect(processImage(await makeImage(40, 30, 'jpeg'), [], {}, limits)).resolves.toMatchObject({ format: 'jpeg', width: 40, height: 30 });

    allowOnlyDecoders(INPUT_FORMATS);
    await expect(processImage(webp, [], {}, limits)).resolves.toMatchObject({ format: 'webp', width: 40, height: 30 });
    for (const format of ['gif', 'tiff', 'avif'] as const) {
      const input = await sharp({ create: { width: 12, height: 8, channels: 3, background: '#336699' } }).toFormat(format).toBuffer();
      await expect(processImage(input, [], { format: 'png' }, limits)).resolves.toMatchObject({ width: 12, height: 8 });
    }
    expect(await failureOf(processImage(svg, [], { format: 'png' }, limits))).toMatchObject({ error: { code: 'UNSUPPORTED_FORMAT' } });
  });

  it('stops an image that runs past the time limit, as PROCESSING_TIMEOUT', async () => {
    const big = await sharp({ create: { width: 3000, height: 3000, channels: 3, background: '#345678' } }).png({ compressionLevel: 1 }).toBuffer();
    const failure = await failureOf(processImage(big, [{ op: 'blur', sigma: 400 }], { format: 'jpeg' }, { ...limits, timeoutSeconds: 1 }));
    expect(failure).toMatchObject({ permanent: true, error: { code: 'PROCESSING_TIMEOUT' } });
  });
});
