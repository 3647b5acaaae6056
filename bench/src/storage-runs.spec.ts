import {
  filesystemStorageEnv,
  resultsFileName,
  s3StorageEnv,
  storagesToRun,
  storageTable,
} from './storage-runs';

describe('storagesToRun', () => {
  it('runs the filesystem alone by default', () => {
    expect(storagesToRun('filesystem')).toEqual(['filesystem']);
  });

  it('runs the filesystem, then the bucket, for s3', () => {
    expect(storagesToRun('s3')).toEqual(['filesystem', 's3']);
  });

  it('refuses another storage, naming the value', () => {
    expect(() => storagesToRun('gcs')).toThrow(
      '--storage must be filesystem or s3, got gcs',
    );
  });
});

describe('storage settings', () => {
  it('empties STORAGE_URL for the filesystem, so a URL in the environment does not win', () => {
    expect(filesystemStorageEnv('/tmp/bench/storage')).toEqual({
      STORAGE_URL: '',
      STORAGE_DIR: '/tmp/bench/storage',
    });
  });

  it('names the bucket, path-style requests, the endpoint and the credentials for S3', () => {
    expect(
      s3StorageEnv(
        {
          endpoint: 'http://127.0.0.1:40123',
          region: 'us-east-1',
          accessKeyId: 'AKID',
          secretAccessKey: 'secret',
        },
        'pipeline-bench',
        'run1',
      ),
    ).toEqual({
      STORAGE_URL: 's3://pipeline-bench/run1',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:40123',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKID',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
  });
});

describe('storageTable', () => {
  it('prints a row per storage with its own sharp alone and ratio', () => {
    const table = storageTable('thumb', 240, [
      {
        storage: 'filesystem',
        imagesPerSecond: 48.66,
        sharpAloneImagesPerSecond: 64.04,
        ratio: 0.7598,
      },
      {
        storage: 's3',
        imagesPerSecond: 40.1,
        sharpAloneImagesPerSecond: 63.5,
        ratio: 0.6315,
      },
    ]).split('\n');
    expect(table.slice(0, 4)).toEqual([
      '| workload | storage | jobs/s | sharp alone/s | ratio |',
      '| --- | --- | --- | --- | --- |',
      '| thumb, 240 jobs | filesystem | 48.7 | 64.0 | 0.76 |',
      '| thumb, 240 jobs | S3 (Ceph RGW) | 40.1 | 63.5 | 0.63 |',
    ]);
    expect(table[4]).toMatch(/^\(each ratio is to sharp alone/);
    expect(table).toHaveLength(5);
  });
});

describe('resultsFileName', () => {
  it('is the workload for the filesystem alone', () => {
    expect(resultsFileName('thumb', 1, ['filesystem'])).toBe('thumb.json');
  });

  it('says the batch size and that the bucket ran too', () => {
    expect(resultsFileName('tiny', 100, ['filesystem'])).toBe(
      'tiny-batch100.json',
    );
    expect(resultsFileName('thumb', 1, ['filesystem', 's3'])).toBe(
      'thumb-s3.json',
    );
    expect(resultsFileName('tiny', 100, ['filesystem', 's3'])).toBe(
      'tiny-batch100-s3.json',
    );
  });
});
