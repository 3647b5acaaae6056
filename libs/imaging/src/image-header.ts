import { open } from 'node:fs/promises';
import sharp, { SharpOptions } from 'sharp';
import { detectImageFormat, SNIFF_BYTES } from './formats';
import { ImageSize } from './output-size';

/** What an image's header says, read without decoding its pixels. */
export interface ImageHeader {
  format: string | undefined;
  /** Of the image as stored (one page of an animation). */
  width: number;
  height: number;
  /** EXIF orientation, 1 (upright) to 8. */
  orientation: number;
  /** Frames of an animation, pages of a TIFF; 1 for a still image. Jobs are run on the first only. */
  pages: number;
}

/**
 * Reads the header of an encoded image (its bytes, or a file's path) through sharp's metadata:
 * libvips reads as little of the file as the format allows and decodes no pixels. Fails as
 * sharp does (an input over `options.limitInputPixels`, an unsupported or corrupt one).
 */
export async function readImageHeader(input: Buffer | string, options?: SharpOptions): Promise<ImageHeader> {
  const { format, width, height, orientation, pages } = await sharp(input, options).metadata();
  if (!width || !height) throw new Error(`The image header gives no size (${width}×${height})`);
  return { format, width, height, orientation: orientation ?? 1, pages: pages ?? 1 };
}

/**
 * The header of a file or bytes in a format this service decodes (judged by its first bytes,
 * so that no other parser reads it), or null when it is not one or its header cannot be read.
 */
export async function readSupportedImageHeader(input: Buffer | string): Promise<ImageHeader | null> {
  try {
    if (detectImageFormat(await firstBytes(input)) === null) return null;
    // Only the header is read, whatever size it declares: judging that size is the caller's business.
    return await readImageHeader(input, { limitInputPixels: false });
  } catch {
    return null;
  }
}

async function firstBytes(input: Buffer | string): Promise<Buffer> {
  if (Buffer.isBuffer(input)) return input.subarray(0, SNIFF_BYTES);
  const file = await open(input, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** The size of the image once turned upright: EXIF orientations 5 to 8 turn it a quarter. */
export function uprightSize({ width, height, orientation }: ImageHeader): ImageSize {
  return orientation >= 5 && orientation <= 8 ? { width: height, height: width } : { width, height };
}
