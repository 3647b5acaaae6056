import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CephRgw, cephInstalled } from '../../test/support/ceph-rgw';
import { s3StorageEnv } from './storage-runs';

const BUCKET = 'pipeline-bench';
const PREFIX = 'bench';

export interface S3Storage {
  /** The pipeline's settings for the bucket. */
  env: Record<string, string>;
  /** Stops the gateway and its cluster, and removes their files. */
  stop(): Promise<void>;
}

/**
 * A throwaway Ceph RGW (the S3 server the storage tests prove the store
 * against) with an empty bucket for the benchmarked pipeline.
 */
export async function startS3Storage(): Promise<S3Storage> {
  if (!(await cephInstalled()))
    throw new Error(
      '--storage s3 needs Ceph on this machine (apt-get install ceph-mon ceph-osd radosgw ceph-common) and root',
    );
  const rgw = await CephRgw.start();
  try {
    const s3 = new S3Client({
      endpoint: rgw.s3.endpoint,
      region: rgw.s3.region,
      forcePathStyle: true,
      credentials: {
        accessKeyId: rgw.s3.accessKeyId,
        secretAccessKey: rgw.s3.secretAccessKey,
      },
    });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    } finally {
      s3.destroy();
    }
  } catch (error) {
    await rgw.stop();
    throw error;
  }
  return {
    env: s3StorageEnv(rgw.s3, BUCKET, PREFIX),
    stop: () => rgw.stop(),
  };
}
