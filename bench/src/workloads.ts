import { JobSpec } from '@pipeline/contracts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

/** The bench's workloads: the operations and outputs of each job. */
export const WORKLOADS: Record<string, JobSpec> = {
  thumb: {
    operations: [{ op: 'resize', width: 320 }],
    output: { format: 'jpeg', quality: 80 },
  },
  filters: {
    operations: [
      { op: 'resize', width: 1024 },
      { op: 'blur', sigma: 2 },
      { op: 'brightness', factor: 1.2 },
      { op: 'grayscale' },
    ],
    output: { format: 'jpeg', quality: 80 },
  },
  // The peers' operation (../shared/bench-peers resize whatever they are given
  // to 320 px wide).
  tiny: {
    operations: [{ op: 'resize', width: 320 }],
    output: { format: 'jpeg', quality: 80 },
  },
  // Three outputs per job from one decode; the limit is sharp making the same
  // three in-process.
  variants: {
    operations: [],
    output: {},
    variants: [
      {
        name: 'thumb',
        operations: [{ op: 'resize', width: 320, height: 320, fit: 'cover' }],
        output: { format: 'webp', quality: 80 },
      },
      {
        name: 'web',
        operations: [
          {
            op: 'resize',
            width: 1600,
            fit: 'inside',
            withoutEnlargement: true,
          },
        ],
        output: { format: 'jpeg', quality: 82 },
      },
      {
        name: 'small',
        operations: [{ op: 'resize', width: 640 }],
        output: { format: 'jpeg', quality: 80 },
      },
    ],
  },
};

/**
 * The `tiny` workload's inputs, written into `folder`: sixteen 64×64 JPEGs, on
 * which the image work is negligible, so that a run measures the plumbing.
 */
export async function writeTinyImages(folder: string): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < 16; i++) {
    const bytes = await sharp({
      create: {
        width: 64,
        height: 64,
        channels: 3,
        background: { r: i * 15, g: 100, b: 200 - i * 10 },
      },
    })
      .jpeg()
      .toBuffer();
    names.push(`tiny-${i}.jpg`);
    await writeFile(join(folder, names[i]), bytes);
  }
  return names;
}
