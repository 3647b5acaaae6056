import { SourceFetchError } from '@pipeline/fetching';
import {
  BlobNotFoundError,
  BlobStorageError,
  ImagePathError,
} from '@pipeline/storage';
import { classifyJobError } from './classify-job-error';

describe('classifyJobError', () => {
  it("treats the object store's errors as transient INTERNAL, even where their text reads like a damaged image's", () => {
    const error = new BlobStorageError(
      'Object storage could not read uploads/j in the bucket "b" at http://rgw:7480: InvalidAccessKeyId (HTTP 403): invalid or truncated request',
      403,
    );
    expect(classifyJobError(error)).toEqual({
      permanent: false,
      error: { code: 'INTERNAL', message: error.message },
    });
  });

  it('treats a missing images-folder file as a permanent INPUT_NOT_FOUND', () => {
    const error = new ImagePathError(
      'source.path "a.jpg" does not exist in the images folder',
    );
    expect(classifyJobError(error)).toEqual({
      permanent: true,
      error: {
        code: 'INPUT_NOT_FOUND',
        message: 'source.path "a.jpg" does not exist in the images folder',
      },
    });
  });

  it('treats a missing stored upload as a permanent INPUT_NOT_FOUND', () => {
    expect(classifyJobError(new BlobNotFoundError('uploads/x'))).toEqual({
      permanent: true,
      error: {
        code: 'INPUT_NOT_FOUND',
        message: 'No stored object at uploads/x',
      },
    });
  });

  it('an ImagePathError is INPUT_NOT_FOUND even when its text looks like another kind', () => {
    expect(
      classifyJobError(
        new ImagePathError('source.path "invalid.jpg" is not a file'),
      ).error.code,
    ).toBe('INPUT_NOT_FOUND');
  });

  it.each([
    ['a refused address', 'SOURCE_REFUSED', true],
    ['a source that may come back', 'SOURCE_UNAVAILABLE', false],
  ] as const)(
    'reports a failed download (%s) with its own code, message and permanence',
    (_label, code, permanent) => {
      const error = new SourceFetchError(code, permanent, 'no\nno');
      expect(classifyJobError(error)).toEqual({
        permanent,
        error: { code, message: 'no\nno' },
      });
    },
  );

  it('leaves the rest to the image processing classification', () => {
    expect(classifyJobError(new Error('EIO\nEIO'))).toEqual({
      permanent: false,
      error: { code: 'INTERNAL', message: 'EIO' },
    });
    expect(
      classifyJobError(new Error('Input image exceeds pixel limit')).error.code,
    ).toBe('IMAGE_TOO_LARGE');
  });
});
