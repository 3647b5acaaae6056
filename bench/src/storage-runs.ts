/**
 * `--storage`: where the benchmarked pipeline keeps its blobs. With `s3` the
 * workload runs twice in one run, on the filesystem and then on a bucket, so
 * that the two ratios to sharp alone compare.
 */

export type StorageKind = 'filesystem' | 's3';

const STORAGE_LABELS: Record<StorageKind, string> = {
  filesystem: 'filesystem',
  s3: 'S3 (Ceph RGW)',
};

/** The storages `--storage` runs the workload on, in order. */
export function storagesToRun(option: string): StorageKind[] {
  if (option === 'filesystem') return ['filesystem'];
  // The filesystem first: the yardstick the bucket's figures are read against.
  if (option === 's3') return ['filesystem', 's3'];
  throw new Error(`--storage must be filesystem or s3, got ${option}`);
}

/**
 * The pipeline's settings for a folder: STORAGE_URL emptied, so that one set in
 * the caller's environment does not send the run elsewhere.
 */
export function filesystemStorageEnv(dir: string): Record<string, string> {
  return { STORAGE_URL: '', STORAGE_DIR: dir };
}

export interface S3Server {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * The pipeline's settings for a bucket of an S3 server that has no
 * virtual-hosted buckets (path-style requests).
 */
export function s3StorageEnv(
  server: S3Server,
  bucket: string,
  prefix: string,
): Record<string, string> {
  return {
    STORAGE_URL: `s3://${bucket}/${prefix}`,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
  };
}

export interface StorageFigures {
  storage: StorageKind;
  imagesPerSecond: number;
  sharpAloneImagesPerSecond: number;
  ratio: number;
}

/** One Markdown table: a row per storage, for the same workload and jobs. */
export function storageTable(
  workload: string,
  jobs: number,
  runs: StorageFigures[],
): string {
  const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [
    row(['workload', 'storage', 'jobs/s', 'sharp alone/s', 'ratio']),
    row(['---', '---', '---', '---', '---']),
    ...runs.map((run) =>
      row([
        `${workload}, ${jobs} jobs`,
        STORAGE_LABELS[run.storage],
        run.imagesPerSecond.toFixed(1),
        run.sharpAloneImagesPerSecond.toFixed(1),
        run.ratio.toFixed(2),
      ]),
    ),
    "(each ratio is to sharp alone measured in this run before and after that storage's throughput phase)",
  ].join('\n');
}

/**
 * The figures' file name: the workload, `-batch<B>` for batches, `-s3` when the
 * bucket ran too (its file holds both storages' figures).
 */
export function resultsFileName(
  workload: string,
  batch: number,
  storages: StorageKind[],
): string {
  return `${workload}${batch > 1 ? `-batch${batch}` : ''}${storages.includes('s3') ? '-s3' : ''}.json`;
}
