import { parseStorageLocation, storageUrlProblem } from './storage-location';

describe('parseStorageLocation', () => {
  it('keeps the folder of STORAGE_DIR when STORAGE_URL is empty', () => {
    expect(parseStorageLocation('', './data/storage')).toEqual({
      kind: 'filesystem',
      dir: './data/storage',
    });
    expect(parseStorageLocation('  ', '/srv/storage')).toEqual({
      kind: 'filesystem',
      dir: '/srv/storage',
    });
  });

  it('takes a path, or a file:// URL, as a folder', () => {
    expect(parseStorageLocation('/var/lib/pipeline', './x')).toEqual({
      kind: 'filesystem',
      dir: '/var/lib/pipeline',
    });
    expect(parseStorageLocation('relative/storage', './x')).toEqual({
      kind: 'filesystem',
      dir: 'relative/storage',
    });
    expect(
      parseStorageLocation('file:///var/lib/pipeline%20data', './x'),
    ).toEqual({ kind: 'filesystem', dir: '/var/lib/pipeline data' });
  });

  it.each([
    ['s3://images', { bucket: 'images', prefix: '' }],
    ['s3://images/', { bucket: 'images', prefix: '' }],
    [
      's3://my.bucket-1/pipeline',
      { bucket: 'my.bucket-1', prefix: 'pipeline/' },
    ],
    [
      's3://my-bucket/prod/pipeline/',
      { bucket: 'my-bucket', prefix: 'prod/pipeline/' },
    ],
  ])(
    'takes %j as a bucket and a prefix ending with a slash',
    (url, expected) => {
      expect(parseStorageLocation(url, './x')).toEqual({
        kind: 's3',
        ...expected,
      });
    },
  );

  it.each([
    [
      's3://Images/x',
      'STORAGE_URL names the bucket "Images": a bucket\'s name has 3 to 63 lowercase letters',
    ],
    ['s3://ab', 'STORAGE_URL names the bucket "ab"'],
    ['s3://a..b', 'STORAGE_URL names the bucket "a..b"'],
    ['s3:///prefix', 'STORAGE_URL names the bucket ""'],
    [
      's3://bucket/a//b',
      'STORAGE_URL has the prefix part "": prefix parts are letters, digits, dot, dash and underscore',
    ],
    ['s3://bucket/a/../b', 'STORAGE_URL has the prefix part ".."'],
    ['s3://bucket/with space', 'STORAGE_URL has the prefix part "with space"'],
    [
      's3://key:secret@bucket/x',
      'STORAGE_URL must be s3://<bucket>/<prefix>, without credentials, query or fragment',
    ],
    ['s3://bucket/x?versionId=1', 'without credentials, query or fragment'],
    [
      'gs://bucket/x',
      "STORAGE_URL must be s3://<bucket>/<prefix> or a folder's path, not a gs:// URL",
    ],
    ['https://s3.amazonaws.com/bucket', 'not a https:// URL'],
  ])('refuses %j, naming what is wrong', (url, message) => {
    expect(() => parseStorageLocation(url, './x')).toThrow(message);
    expect(storageUrlProblem(url)).toContain(message);
  });

  it('finds no problem in a usable value', () => {
    expect(storageUrlProblem('')).toBeUndefined();
    expect(storageUrlProblem('s3://bucket/prefix')).toBeUndefined();
  });
});
