import { JobErrorCode } from '@pipeline/contracts';
import { SourceFetchError } from '@pipeline/fetching';
import {
  ClassifiedError,
  classifyProcessingError,
  processingErrorMessage,
} from '@pipeline/imaging';
import {
  BlobNotFoundError,
  BlobStorageError,
  ImagePathError,
} from '@pipeline/storage';

/**
 * Classifies why a job failed: the troubles of reading its input and storing
 * its outputs first, then those of processing the image.
 */
export function classifyJobError(error: unknown): ClassifiedError {
  // The store's trouble (away, refusing, throttling) says nothing of the job:
  // tried again. Before imaging's patterns, which an object store's own
  // message might match.
  if (error instanceof BlobStorageError)
    return {
      permanent: false,
      error: {
        code: JobErrorCode.internal,
        message: processingErrorMessage(error),
      },
    };
  if (error instanceof SourceFetchError)
    return {
      permanent: error.permanent,
      error: { code: error.code, message: error.message },
    };
  if (error instanceof ImagePathError || error instanceof BlobNotFoundError)
    return {
      permanent: true,
      error: {
        code: JobErrorCode.inputNotFound,
        message: processingErrorMessage(error),
      },
    };
  return classifyProcessingError(error);
}
