import sharp from 'sharp';
import { InputFormat } from './formats';

/** The libvips loader classes behind each input format users may send. */
const LOADERS: Record<InputFormat, string[]> = {
  jpeg: ['VipsForeignLoadJpeg'],
  png: ['VipsForeignLoadPng'],
  webp: ['VipsForeignLoadWebp'],
  gif: ['VipsForeignLoadNsgif'],
  tiff: ['VipsForeignLoadTiff'],
  avif: ['VipsForeignLoadHeif'],
  heif: ['VipsForeignLoadHeif'],
};

export const INPUT_FORMATS = Object.keys(LOADERS) as InputFormat[];

/** The formats libvips may decode in this process: all, until restricted. */
let allowedFormats = new Set<string>(INPUT_FORMATS);

/** Whether libvips may decode `format` in this process. */
export function mayDecode(format: string): boolean {
  return allowedFormats.has(format);
}

/**
 * Lets libvips decode only the given formats, for the whole process. Every
 * other loader (SVG, PDF, ImageMagick, FITS, Matlab, …) is blocked: an input in
 * one of them fails as an unsupported format instead of reaching a parser
 * nobody asked for.
 */
export function allowOnlyDecoders(formats: InputFormat[]): void {
  allowedFormats = new Set(formats);
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({
    operation: [...new Set(formats.flatMap((format) => LOADERS[format]))],
  });
}
