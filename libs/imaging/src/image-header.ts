import { open } from 'node:fs/promises';
import sharp, { SharpOptions } from 'sharp';
import { mayDecode } from './decoders';
import { detectImageFormat } from './formats';
import { HEADER_BYTES, readHeaderBytes } from './header-bytes';
import { ImageSize } from './output-size';

/** What an image's header says, read without decoding its pixels. */
export interface ImageHeader {
  format: string | undefined;
  /** Of the image as stored (one page of an animation). */
  width: number;
  height: number;
  /** EXIF orientation, 1 (upright) to 8. */
  orientation: number;
  /**
   * Frames of an animation, pages of a TIFF; 1 for a still image. Jobs are run
   * on the first only.
   */
  pages: number;
}

/**
 * Reads the header of an encoded image (its bytes, or a file's path) through
 * sharp's metadata: libvips reads as little of the file as the format allows
 * and decodes no pixels. Fails as sharp does (an input over
 * `options.limitInputPixels`, an unsupported or corrupt one).
 */
export async function readImageHeader(
  input: Buffer | string,
  options?: SharpOptions,
): Promise<ImageHeader> {
  const { format, width, height, orientation, pages } = await sharp(
    input,
    options,
  ).metadata();
  if (!width || !height)
    throw new Error(`The image header gives no size (${width}×${height})`);
  return {
    format,
    width,
    height,
    orientation: orientation ?? 1,
    pages: pages ?? 1,
  };
}

/**
 * The header of an input about to be decoded with `options`, as
 * readImageHeader gives it, read from its first bytes where readHeaderBytes
 * can vouch for it: for a small image, libvips' own header read costs a tenth
 * of the job. Anything else (another format, one whose decoder is blocked, an
 * input over `options.limitInputPixels`) goes to sharp, which fails as it
 * would have.
 */
export async function readInputHeader(
  input: Buffer | string,
  options: SharpOptions & { limitInputPixels: number },
): Promise<ImageHeader> {
  // A file that cannot be read fails below with sharp's words for it.
  const first = await firstBytes(input).catch(() => null);
  const header = first && vouchedHeader(first);
  if (header && header.width * header.height <= options.limitInputPixels)
    return header;
  return readImageHeader(input, options);
}

/**
 * The header readHeaderBytes reads from `first`, for a format libvips may
 * decode here; null where it cannot vouch for one.
 */
function vouchedHeader({ head, complete }: FirstBytes): ImageHeader | null {
  const format = detectImageFormat(head);
  return format && mayDecode(format) ? readHeaderBytes(head, complete) : null;
}

/**
 * The first bytes of an input (up to HEADER_BYTES), and whether they are all of
 * it.
 */
export interface FirstBytes {
  head: Buffer;
  complete: boolean;
}

/**
 * The header of a file or bytes in a format this service decodes (judged by its
 * first bytes, so that no other parser reads it), or null when it is not one or
 * its header cannot be read. The first bytes are read once (or taken from
 * `first`, where the caller has them already); the common formats' headers are
 * read from them, the rest (and whatever that reader cannot vouch for) by
 * sharp, with the same result.
 */
export async function readSupportedImageHeader(
  input: Buffer | string,
  first?: FirstBytes,
): Promise<ImageHeader | null> {
  try {
    const bytes = first ?? (await firstBytes(input));
    if (detectImageFormat(bytes.head) === null) return null;
    // Only the header is read, whatever size it declares: judging that size is
    // the caller's business.
    return (
      vouchedHeader(bytes) ??
      (await readImageHeader(input, { limitInputPixels: false }))
    );
  } catch {
    return null;
  }
}

async function firstBytes(input: Buffer | string): Promise<FirstBytes> {
  if (Buffer.isBuffer(input)) return { head: input, complete: true };
  const file = await open(input, 'r');
  try {
    const { buffer, bytesRead } = await file.read(
      Buffer.allocUnsafe(HEADER_BYTES),
      0,
      HEADER_BYTES,
      0,
    );
    return {
      head: buffer.subarray(0, bytesRead),
      complete: bytesRead < HEADER_BYTES,
    };
  } finally {
    await file.close();
  }
}

/**
 * The size of the image once turned upright: EXIF orientations 5 to 8 turn it a
 * quarter.
 */
export function uprightSize({
  width,
  height,
  orientation,
}: ImageHeader): ImageSize {
  return orientation >= 5 && orientation <= 8
    ? { width: height, height: width }
    : { width, height };
}
