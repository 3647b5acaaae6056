import sharp from 'sharp';
import { readSupportedImageHeader } from './image-header';

/** The longest side of a preview, in pixels. */
export const PREVIEW_MAX_SIDE = 256;

/** A small picture of an image, to show in a list or a page. */
export interface Preview {
  data: Buffer;
  contentType: 'image/webp';
  width: number;
  height: number;
}

/** Why an image cannot be previewed. */
export class PreviewRefusedError extends Error {
  constructor(
    message: string,
    readonly reason: 'unsupported' | 'too-large',
  ) {
    super(message);
    this.name = 'PreviewRefusedError';
  }
}

/**
 * A WebP preview of an encoded image, upright and fitting inside `maxSide` ×
 * `maxSide` (never enlarged); the first frame of an animation. Only the formats
 * this service decodes are read (judged by their first bytes), and an image
 * declaring more than `maxInputPixels` is refused from its header, before any
 * pixel is decoded.
 */
export async function makePreview(
  input: Buffer,
  options: { maxInputPixels: number; maxSide?: number },
): Promise<Preview> {
  const header = await readSupportedImageHeader(input);
  if (header === null)
    throw new PreviewRefusedError(
      'not an image in a format this service decodes',
      'unsupported',
    );
  if (header.width * header.height > options.maxInputPixels)
    throw new PreviewRefusedError(
      `${header.width}×${header.height} is over the ${options.maxInputPixels} pixels a preview decodes`,
      'too-large',
    );
  const side = options.maxSide ?? PREVIEW_MAX_SIDE;
  const { data, info } = await sharp(input, {
    limitInputPixels: options.maxInputPixels,
    animated: false,
  })
    .rotate()
    .resize({
      width: side,
      height: side,
      fit: 'inside',
      withoutEnlargement: true,
    })
    .webp({ quality: 75, effort: 2 })
    .toBuffer({ resolveWithObject: true });
  return {
    data,
    contentType: 'image/webp',
    width: info.width,
    height: info.height,
  };
}
