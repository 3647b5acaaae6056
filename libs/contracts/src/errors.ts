/** `error.code` values a failed job can carry. */
export const JobErrorCode = {
  /** The input could not be decoded as an image. */
  invalidImage: 'INVALID_IMAGE',
  /**
   * The input, or an image its operations would make, is over the configured
   * pixel limits (MAX_INPUT_PIXELS, MAX_OUTPUT_PIXELS).
   */
  imageTooLarge: 'IMAGE_TOO_LARGE',
  /** The input is in a format this service does not decode (SVG, PDF, …). */
  unsupportedFormat: 'UNSUPPORTED_FORMAT',
  /** Processing took longer than the per-job time limit. */
  timedOut: 'PROCESSING_TIMEOUT',
  /** An operation does not fit this image (a crop outside its bounds, say). */
  invalidOperation: 'INVALID_OPERATION',
  /** The input named by the job is gone. */
  inputNotFound: 'INPUT_NOT_FOUND',
  /**
   * A URL source points where workers may not go (a private, loopback or
   * otherwise internal address), or is not http(s).
   */
  sourceRefused: 'SOURCE_REFUSED',
  /**
   * A URL source answered with an error status, too many redirects, or not an
   * image.
   */
  sourceUnavailable: 'SOURCE_UNAVAILABLE',
  /** The message itself was malformed and was parked. */
  invalidMessage: 'INVALID_MESSAGE',
  /**
   * An operator purged the job's message from the dead-letter queue before it
   * finished.
   */
  purged: 'PURGED',
  /** Its submitter (or an admin) cancelled the job before it finished. */
  cancelled: 'CANCELLED',
  /** Anything unexpected. */
  internal: 'INTERNAL',
} as const;
export type JobErrorCode = (typeof JobErrorCode)[keyof typeof JobErrorCode];
