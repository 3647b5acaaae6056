import { JobError, JobErrorCode } from '@pipeline/contracts';
import { SourceFetchError } from '@pipeline/fetching';
import {
  BlobNotFoundError,
  BlobStorageError,
  ImagePathError,
} from '@pipeline/storage';
import { ProcessingTimeoutError } from './deadline';
import { OutputTooLargeError } from './output-size';
import { WatermarkTooLargeError } from './watermark';

/**
 * The outcome of a failure: permanent ones fail the job, the rest are retried.
 */
export interface ClassifiedError {
  permanent: boolean;
  error: JobError;
}

// libvips reports these for inputs that no retry will fix.
const INVALID_IMAGE_PATTERNS = [
  /Input buffer is missing/i,
  /premature end of/i,
  /corrupt/i,
  /Invalid (SOS|SOF|marker|JPEG)/i,
  /not a known file format/i,
  /VipsJpeg|VipsPng|VipsWebp|VipsForeignLoad|vipspng|heifload|gifload|tiff2vips/i,
  /bad seek|read error|truncated|invalid/i,
];

export function classifyProcessingError(error: unknown): ClassifiedError {
  // libvips repeats its warnings once per scanline it failed on.
  const text = error instanceof Error ? error.message : String(error);
  const message = [
    ...new Set(
      text
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean),
    ),
  ].join('; ');
  // The store's trouble (away, refusing, throttling) says nothing of the job:
  // tried again. Before the patterns below, which an object store's own message
  // might match.
  if (error instanceof BlobStorageError)
    return {
      permanent: false,
      error: { code: JobErrorCode.internal, message },
    };
  if (error instanceof ProcessingTimeoutError)
    return { permanent: true, error: { code: JobErrorCode.timedOut, message } };
  if (error instanceof WatermarkTooLargeError)
    return {
      permanent: true,
      error: {
        code: JobErrorCode.invalidOperation,
        message: `An operation does not fit this image: ${message}`,
      },
    };
  if (error instanceof SourceFetchError)
    return {
      permanent: error.permanent,
      error: { code: error.code, message: error.message },
    };
  if (error instanceof OutputTooLargeError)
    return {
      permanent: true,
      error: {
        code: JobErrorCode.imageTooLarge,
        message: `The operations would make too large an image: ${error.message}`,
      },
    };
  if (
    error instanceof ImagePathError ||
    error instanceof BlobNotFoundError ||
    /Input file is missing/i.test(message)
  ) {
    return {
      permanent: true,
      error: { code: JobErrorCode.inputNotFound, message },
    };
  }
  if (/unsupported image format/i.test(message)) {
    return {
      permanent: true,
      error: {
        code: JobErrorCode.unsupportedFormat,
        message: `The input is not in a supported image format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF): ${message}`,
      },
    };
  }
  if (/^timeout: \d+% complete/i.test(message)) {
    return {
      permanent: true,
      error: {
        code: JobErrorCode.timedOut,
        message: `Processing took longer than the time limit (${message})`,
      },
    };
  }
  if (/exceeds (pixel|frame) limit/i.test(message)) {
    return {
      permanent: true,
      error: {
        code: JobErrorCode.imageTooLarge,
        message: `The input image is too large: ${message}`,
      },
    };
  }
  if (
    /extract_area|bad extract area|Expected .* for|Invalid parameter|Unable to parse colou?r|Image to composite must have same dimensions or smaller/i.test(
      message,
    )
  ) {
    return {
      permanent: true,
      error: {
        code: JobErrorCode.invalidOperation,
        message: `An operation does not fit this image: ${message}`,
      },
    };
  }
  if (INVALID_IMAGE_PATTERNS.some((pattern) => pattern.test(message))) {
    return {
      permanent: true,
      error: {
        code: JobErrorCode.invalidImage,
        message: `The input could not be decoded as an image: ${message}`,
      },
    };
  }
  return { permanent: false, error: { code: JobErrorCode.internal, message } };
}
