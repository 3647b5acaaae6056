import { JobError, JobErrorCode } from '@pipeline/contracts';
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

/**
 * The text of a thrown value, each line said once: libvips repeats its
 * warnings once per scanline it failed on.
 */
export function processingErrorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return [...new Set(lines)].join('; ');
}

interface MessageRule {
  pattern: RegExp;
  code: JobErrorCode;
  describe: (message: string) => string;
}

const doesNotFit = (message: string) =>
  `An operation does not fit this image: ${message}`;
const notDecoded = (message: string) =>
  `The input could not be decoded as an image: ${message}`;

/**
 * What libvips says of inputs and operations that no retry will fix; the first
 * rule that matches wins.
 */
const MESSAGE_RULES: MessageRule[] = [
  {
    pattern: /Input file is missing/i,
    code: JobErrorCode.inputNotFound,
    describe: (message) => message,
  },
  {
    pattern: /unsupported image format/i,
    code: JobErrorCode.unsupportedFormat,
    describe: (message) =>
      `The input is not in a supported image format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF): ${message}`,
  },
  {
    pattern: /^timeout: \d+% complete/i,
    code: JobErrorCode.timedOut,
    describe: (message) =>
      `Processing took longer than the time limit (${message})`,
  },
  {
    pattern: /exceeds (pixel|frame) limit/i,
    code: JobErrorCode.imageTooLarge,
    describe: (message) => `The input image is too large: ${message}`,
  },
  {
    pattern:
      /extract_area|bad extract area|Expected .* for|Invalid parameter|Unable to parse colou?r|Image to composite must have same dimensions or smaller/i,
    code: JobErrorCode.invalidOperation,
    describe: doesNotFit,
  },
  ...[
    /Input buffer is missing/i,
    /premature end of/i,
    /corrupt/i,
    /Invalid (SOS|SOF|marker|JPEG)/i,
    /not a known file format/i,
    /VipsJpeg|VipsPng|VipsWebp|VipsForeignLoad|vipspng|heifload|gifload|tiff2vips/i,
    /bad seek|read error|truncated|invalid/i,
  ].map((pattern) => ({
    pattern,
    code: JobErrorCode.invalidImage,
    describe: notDecoded,
  })),
];

const permanently = (code: JobErrorCode, message: string): ClassifiedError => ({
  permanent: true,
  error: { code, message },
});

/**
 * Classifies what image processing throws; anything it does not know is a
 * transient INTERNAL error.
 */
export function classifyProcessingError(error: unknown): ClassifiedError {
  const message = processingErrorMessage(error);
  if (error instanceof ProcessingTimeoutError)
    return permanently(JobErrorCode.timedOut, message);
  if (error instanceof WatermarkTooLargeError)
    return permanently(JobErrorCode.invalidOperation, doesNotFit(message));
  if (error instanceof OutputTooLargeError)
    return permanently(
      JobErrorCode.imageTooLarge,
      `The operations would make too large an image: ${error.message}`,
    );
  const rule = MESSAGE_RULES.find(({ pattern }) => pattern.test(message));
  if (rule) return permanently(rule.code, rule.describe(message));
  return { permanent: false, error: { code: JobErrorCode.internal, message } };
}
