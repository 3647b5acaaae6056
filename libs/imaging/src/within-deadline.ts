import { OutputInfo, Sharp } from 'sharp';
import { Deadline } from './deadline';

/**
 * Runs a pipeline to raw or encoded bytes within the job's deadline: libvips
 * gets the time left (and stops itself then), and the job stops waiting at the
 * deadline.
 */
export function toBufferWithin(
  image: Sharp,
  deadline: Deadline | undefined,
  during: string,
): Promise<{ data: Buffer; info: OutputInfo }> {
  if (!deadline) return image.toBuffer({ resolveWithObject: true });
  deadline.check(during);
  return deadline.race(
    image
      .timeout({ seconds: deadline.sharpTimeoutSeconds() })
      .toBuffer({ resolveWithObject: true }),
    during,
  );
}
