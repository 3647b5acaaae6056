import sharp from 'sharp';

/** How much memory and how many threads libvips may use in this process. */
export interface SharpSettings {
  /**
   * libvips' cache of recent operations and their results, in MiB; 0 turns it
   * off.
   */
  cacheMemoryMb: number;
  /**
   * Threads libvips gives each image; a worker runs several images at once
   * besides.
   */
  threadsPerImage: number;
}

/**
 * A worker's: no operation cache, since a worker never asks for the same
 * operation on the same pixels twice and the cache would only hold on to memory
 * (50 MiB and 20 open files by default, per process); one thread per image,
 * since the images a worker processes at once (WORKER_CONCURRENCY) already keep
 * the cores busy, and libvips' default of one thread per core for each of them
 * multiplies its buffers by the number of cores without making a busy worker
 * any faster.
 */
export const WORKER_SHARP_SETTINGS: SharpSettings = {
  cacheMemoryMb: 0,
  threadsPerImage: 1,
};

/**
 * Applies `settings` to libvips for the whole process: the one place a worker's
 * sharp is tuned.
 */
export function configureSharp(
  settings: SharpSettings = WORKER_SHARP_SETTINGS,
): void {
  if (!Number.isInteger(settings.cacheMemoryMb) || settings.cacheMemoryMb < 0)
    throw new RangeError(
      `cacheMemoryMb must be a whole number of MiB, 0 or more (got ${settings.cacheMemoryMb})`,
    );
  if (
    !Number.isInteger(settings.threadsPerImage) ||
    settings.threadsPerImage < 1
  )
    throw new RangeError(
      `threadsPerImage must be a whole number, 1 or more (got ${settings.threadsPerImage})`,
    );
  sharp.cache(
    settings.cacheMemoryMb === 0
      ? false
      : { memory: settings.cacheMemoryMb, files: 0 },
  );
  sharp.concurrency(settings.threadsPerImage);
}

/** The dimensions an encoded image declares in its header. */
export async function imageDimensions(
  data: Buffer,
): Promise<{ width: number; height: number }> {
  const { width, height } = await sharp(data).metadata();
  return { width: width ?? 0, height: height ?? 0 };
}
