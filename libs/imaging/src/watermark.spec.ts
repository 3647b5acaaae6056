import { parseOperations } from '@pipeline/contracts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { problemsOf } from '../../../test/support/validation';
import { classifyProcessingError } from './classify-error';
import { processImage, processVariants } from './process-image';
import * as watermark from './watermark';
import { escapeMarkup, MAX_TEXT_LAYER_PIXELS } from './watermark';

const grey = (width = 200) =>
  sharp({ create: { width, height: 100, channels: 3, background: '#404040' } })
    .png()
    .toBuffer();

/**
 * The colour bands of a region (a watermark adds an alpha band, which is left
 * out).
 */
async function region(
  image: Buffer,
  left: number,
  top: number,
  width: number,
  height: number,
) {
  const { data, info } = await sharp(image)
    .extract({ left, top, width, height })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, channels: info.channels };
}

describe('watermark', () => {
  let dir: string;
  const limits = () => ({
    maxInputPixels: 50_000_000,
    resolveWatermarkImage: (path: string) => Promise.resolve(join(dir, path)),
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watermark-'));
    await writeFile(
      join(dir, 'red.png'),
      await sharp({
        create: { width: 10, height: 10, channels: 3, background: '#ff0000' },
      })
        .png()
        .toBuffer(),
    );
    await writeFile(
      join(dir, 'huge.png'),
      await sharp({
        create: { width: 400, height: 400, channels: 3, background: '#00ff00' },
      })
        .png()
        .toBuffer(),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('text lands where its gravity says and leaves the rest alone', async () => {
    const result = await processImage(
      await grey(),
      [{ op: 'watermark', text: 'WATERMARK', size: 20, opacity: 1 }],
      { format: 'png' },
      limits(),
    );
    expect([result.width, result.height]).toEqual([200, 100]);
    const corner = await region(result.data, 100, 60, 100, 40);
    const farCorner = await region(result.data, 0, 0, 60, 40);
    expect(Math.max(...corner.data)).toBeGreaterThan(200);
    expect(Math.max(...farCorner.data)).toBe(64);
  });

  it('shows markup as text instead of interpreting it', async () => {
    expect(escapeMarkup(`<span foreground="red">x</span> & 'y'`)).toBe(
      '&lt;span foreground=&quot;red&quot;&gt;x&lt;/span&gt; &amp; &apos;y&apos;',
    );
    const result = await processImage(
      await grey(800),
      [
        {
          op: 'watermark',
          text: '<span foreground="#ff0000">RED</span>',
          opacity: 1,
        },
      ],
      { format: 'png' },
      limits(),
    );
    const { data, channels } = await region(result.data, 0, 0, 800, 100);
    let reddest = 0;
    for (let i = 0; i < data.length; i += channels)
      reddest = Math.max(reddest, data[i] - data[i + 1]);
    expect(reddest).toBeLessThan(40);
  });

  it('an image from the images folder, at full and at zero opacity', async () => {
    const opaque = await processImage(
      await grey(),
      [{ op: 'watermark', image: 'red.png', gravity: 'northwest', opacity: 1 }],
      { format: 'png' },
      limits(),
    );
    expect([...(await region(opaque.data, 2, 2, 1, 1)).data]).toEqual([
      255, 0, 0,
    ]);
    const invisible = await processImage(
      await grey(),
      [{ op: 'watermark', image: 'red.png', gravity: 'northwest', opacity: 0 }],
      { format: 'png' },
      limits(),
    );
    expect([...(await region(invisible.data, 2, 2, 1, 1)).data]).toEqual([
      64, 64, 64,
    ]);
  });

  it('a watermark larger than the image fails the job as INVALID_OPERATION', async () => {
    const failure = await processImage(
      await grey(),
      [{ op: 'watermark', image: 'huge.png' }],
      { format: 'png' },
      limits(),
    ).then(
      () => undefined,
      (error) => classifyProcessingError(error),
    );
    expect(failure).toMatchObject({
      permanent: true,
      error: { code: 'INVALID_OPERATION' },
    });
  });

  it('takes text or an image, not both', () => {
    expect(
      problemsOf(() =>
        parseOperations([{ op: 'watermark', text: 'a', image: 'b.png' }]),
      ),
    ).toEqual(['operations[0].text: a watermark has text or image, not both']);
    expect(
      problemsOf(() =>
        parseOperations([{ op: 'watermark', text: 'a', opacity: 2 }]),
      ),
    ).toEqual(['operations[0].opacity must not be greater than 1']);
    expect(
      parseOperations([
        { op: 'watermark', image: 'logo.png', gravity: 'north' },
      ]),
    ).toEqual([{ op: 'watermark', image: 'logo.png', gravity: 'north' }]);
  });

  it('refuses text that would be drawn over the text-layer limit, before drawing it, as INVALID_OPERATION', async () => {
    // 20 lines of 512 px text: about 55 Mpx, which Pango would take seconds to
    // draw, out of reach of sharp's timeout.
    const began = performance.now();
    const failure = await processImage(
      await grey(),
      [{ op: 'watermark', text: 'WWWWWWWWW\n'.repeat(20), size: 512 }],
      { format: 'png' },
      limits(),
    ).then(
      () => undefined,
      (error) => classifyProcessingError(error),
    );
    expect(failure).toMatchObject({
      permanent: true,
      error: { code: 'INVALID_OPERATION' },
    });
    expect(failure!.error.message).toMatch(
      /watermark text would be drawn about \d+×\d+ px \(\d+\.\d Mpx\), more than the 16 Mpx a text layer may have/,
    );
    expect(performance.now() - began).toBeLessThan(500);
  });

  it('draws text up to the limit', async () => {
    // One line of 60 characters at 512 px: about 11 Mpx.
    const layer = await watermark.renderWatermark(
      { op: 'watermark', text: 'W'.repeat(60), size: 512 },
      undefined,
      50_000_000,
    );
    const { width, height } = await sharp(layer).metadata();
    expect(width * height).toBeGreaterThan(MAX_TEXT_LAYER_PIXELS / 2);
    expect(width * height).toBeLessThanOrEqual(MAX_TEXT_LAYER_PIXELS);
  });

  it('draws identical watermarks once, wherever they go, across the shared operations and every variant', async () => {
    const render = jest.spyOn(watermark, 'renderWatermark');
    try {
      const mark = (gravity: 'north' | 'south') => ({
        op: 'watermark' as const,
        text: 'same',
        size: 12,
        gravity,
      });
      const other = {
        op: 'watermark' as const,
        text: 'same',
        size: 12,
        opacity: 0.9,
      };
      const variants = Array.from({ length: 4 }, (_, index) => ({
        name: `v${index}`,
        operations: [mark('south'), other],
        output: { format: 'png' as const },
      }));
      const outputs = await processVariants(
        await grey(),
        [mark('north')],
        variants,
        limits(),
      );
      expect(outputs).toHaveLength(4);
      expect(render).toHaveBeenCalledTimes(2);
    } finally {
      render.mockRestore();
    }
  });
});
