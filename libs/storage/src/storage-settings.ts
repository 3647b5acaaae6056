import { SharedConfig } from '@pipeline/platform';
import { StorageOptions } from './storage.module';

/** The storage settings as the storage module takes them. */
export function storageOptionsOf(config: SharedConfig): StorageOptions {
  return {
    storageUrl: config.STORAGE_URL,
    storageDir: config.STORAGE_DIR,
    imagesDir: config.IMAGES_DIR,
    s3: {
      endpoint:
        config.AWS_ENDPOINT_URL_S3 || config.AWS_ENDPOINT_URL || undefined,
      region: config.AWS_REGION || undefined,
      credentials: config.AWS_ACCESS_KEY_ID
        ? {
            accessKeyId: config.AWS_ACCESS_KEY_ID,
            secretAccessKey: config.AWS_SECRET_ACCESS_KEY,
          }
        : undefined,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
    },
  };
}
