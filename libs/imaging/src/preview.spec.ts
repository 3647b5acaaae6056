import sharp from 'sharp';
import { bombPng, makeImage } from '../../../test/support/images';
import { makePreview, PREVIEW_MAX_SIDE, PreviewRefusedError } from './preview';

const limits = { maxInputPixels: 50_000_000 };

describe('makePreview', () => {
  it('fits a large image inside 256 px on its longest side, as WebP', async () => {
    const preview = await makePreview(await makeImage(1200, 600), limits);
    expect(preview).toMatchObject({
      contentType: 'image/webp',
      width: PREVIEW_MAX_SIDE,
      height: 128,
    });
    const decoded = await sharp(preview.data).metadata();
    expect([decoded.format, decoded.width, decoded.height]).toEqual([
      'webp',
      256,
      128,
    ]);
  });

  it('keeps a small image at its size, and turns an EXIF-rotated one upright', async () => {
    const small = await makePreview(await makeImage(40, 30, 'png'), limits);
    expect([small.width, small.height]).toEqual([40, 30]);
    const sideways = await sharp(await makeImage(300, 100))
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    const upright = await makePreview(sideways, { ...limits, maxSide: 60 });
    expect([upright.width, upright.height]).toEqual([20, 60]);
  });

  it('refuses what is not an image it decodes, and a bomb from its header', async () => {
    await expect(
      makePreview(
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
        limits,
      ),
    ).rejects.toMatchObject({ reason: 'unsupported' });
    const bomb = makePreview(bombPng(), limits);
    await expect(bomb).rejects.toBeInstanceOf(PreviewRefusedError);
    await expect(bomb).rejects.toMatchObject({ reason: 'too-large' });
    await expect(bomb).rejects.toThrow(/30000×30000/);
    await expect(
      makePreview(await makeImage(100, 100), { maxInputPixels: 9_999 }),
    ).rejects.toMatchObject({ reason: 'too-large' });
  });
});
