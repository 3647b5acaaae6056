import { loadConfig, WorkerConfig } from '@pipeline/platform';
import { storageOptionsOf } from './storage-settings';

describe('storage settings', () => {
  it("takes a bucket, the SDK's endpoint, region and credentials, and maps them for the storage module", () => {
    const config = loadConfig(WorkerConfig, {
      STORAGE_URL: 's3://images/pipeline',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ENDPOINT_URL: 'http://rgw:7480',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'x9f2Lq7Vb3Nm8Kd1Rt6Yw4Ps0Hg5Jc',
    });
    expect(storageOptionsOf(config)).toEqual({
      storageUrl: 's3://images/pipeline',
      storageDir: './data/storage',
      imagesDir: './data/images',
      s3: {
        endpoint: 'http://rgw:7480',
        region: 'eu-west-1',
        credentials: {
          accessKeyId: 'AKIAEXAMPLE',
          secretAccessKey: 'x9f2Lq7Vb3Nm8Kd1Rt6Yw4Ps0Hg5Jc',
        },
        forcePathStyle: true,
      },
    });
    expect(
      storageOptionsOf(
        loadConfig(WorkerConfig, {
          AWS_ENDPOINT_URL: 'http://any:1',
          AWS_ENDPOINT_URL_S3: 'https://s3.example:9000',
        }),
      ).s3?.endpoint,
    ).toBe('https://s3.example:9000');
  });

  it("leaves credentials and region to the SDK's default chain when they are not set", () => {
    expect(
      storageOptionsOf(loadConfig(WorkerConfig, { STORAGE_URL: 's3://images' }))
        .s3,
    ).toEqual({
      endpoint: undefined,
      region: undefined,
      credentials: undefined,
      forcePathStyle: false,
    });
  });
});
