import { OutputFormat } from '@pipeline/contracts';

export type InputFormat =
  'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heif';

/** Bytes needed to recognise every supported format. */
export const SNIFF_BYTES = 16;

/**
 * Recognises an image by its first bytes. The declared Content-Type of an
 * upload is not trusted; this is what decides whether the bytes are worth
 * queueing.
 */
export function detectImageFormat(head: Buffer): InputFormat | null {
  if (
    head.length >= 3 &&
    head[0] === 0xff &&
    head[1] === 0xd8 &&
    head[2] === 0xff
  )
    return 'jpeg';
  if (
    head.length >= 8 &&
    head
      .subarray(0, 8)
      .equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  )
    return 'png';
  if (
    head.length >= 12 &&
    head.toString('latin1', 0, 4) === 'RIFF' &&
    head.toString('latin1', 8, 12) === 'WEBP'
  )
    return 'webp';
  if (head.length >= 6 && /^GIF8[79]a$/.test(head.toString('latin1', 0, 6)))
    return 'gif';
  if (
    head.length >= 4 &&
    (head.toString('latin1', 0, 4) === 'II*\0' ||
      head.toString('latin1', 0, 4) === 'MM\0*')
  )
    return 'tiff';
  if (head.length >= 12 && head.toString('latin1', 4, 8) === 'ftyp') {
    const brand = head.toString('latin1', 8, 12);
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand))
      return 'heif';
  }
  return null;
}

/**
 * The output format when a job does not name one: the input's, where it is a
 * web format, else JPEG.
 */
export function defaultOutputFormat(input: InputFormat | null): OutputFormat {
  return input === 'jpeg' || input === 'png' || input === 'webp'
    ? input
    : 'jpeg';
}
