import { JobSpec } from '@pipeline/contracts';

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
