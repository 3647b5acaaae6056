import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { ValidationFailed } from '@pipeline/contracts';
import {
  BrokerUnavailableError,
  UnroutableMessageError,
} from '@pipeline/messaging';
import {
  BlobStorageError,
  ChecksumMismatchError,
  ImagePathError,
} from '@pipeline/storage';
import {
  BootstrapKeyError,
  JobNotCancellableError,
  JobNotRetryableError,
  RevokedKeyError,
} from '@pipeline/database';
import {
  RateLimitExceededError,
  StorageQuotaExceededError,
} from '@pipeline/auth';
import { FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import {
  DependencyUnavailableError,
  IdempotencyConflictError,
  OutputsExpiredError,
  PayloadTooLargeError,
  UnsupportedImageError,
} from './errors';

/**
 * Maps the domain's errors to HTTP answers of one shape:
 * `{ statusCode, error, message }`.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Api');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const [status, message] = describeApiError(exception, this.logger);
    if (status >= HttpStatus.INTERNAL_SERVER_ERROR)
      this.logger.warn(
        `${status}: ${Array.isArray(message) ? message.join('; ') : message}`,
      );
    if (status === HttpStatus.SERVICE_UNAVAILABLE)
      reply.header('Retry-After', '5');
    if (status === HttpStatus.UNAUTHORIZED)
      reply.header('WWW-Authenticate', 'Bearer realm="image-pipeline"');
    if (exception instanceof RateLimitExceededError)
      reply.header('Retry-After', String(exception.retryAfterSeconds));
    const extra =
      exception instanceof OutputsExpiredError
        ? { expiredAt: exception.expiredAt }
        : {};
    reply.status(status).send({
      statusCode: status,
      error: STATUS_CODES[status] ?? 'Error',
      message,
      ...extra,
    });
  }
}

/** Requests that contradict the state they act on: 409. */
const CONFLICTS = [
  IdempotencyConflictError,
  JobNotRetryableError,
  JobNotCancellableError,
  BootstrapKeyError,
  RevokedKeyError,
];

/** A dependency failed while taking a job; it was not accepted: 503. */
const NOT_ACCEPTED = [
  BrokerUnavailableError,
  UnroutableMessageError,
  DependencyUnavailableError,
];

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * The domain's errors whose answer is the same for every one of a kind: its
 * status, and its message as the client reads it.
 */
const ANSWERS: Array<{
  kinds: ErrorClass[];
  status: HttpStatus;
  message?: (error: Error) => string | string[];
}> = [
  {
    kinds: [ValidationFailed],
    status: HttpStatus.BAD_REQUEST,
    message: (error) => (error as ValidationFailed).problems,
  },
  {
    kinds: [ImagePathError],
    status: HttpStatus.BAD_REQUEST,
    message: (error) => [error.message],
  },
  { kinds: [UnsupportedImageError], status: HttpStatus.UNSUPPORTED_MEDIA_TYPE },
  {
    kinds: [PayloadTooLargeError, StorageQuotaExceededError],
    status: HttpStatus.PAYLOAD_TOO_LARGE,
  },
  { kinds: [OutputsExpiredError], status: HttpStatus.GONE },
  { kinds: CONFLICTS, status: HttpStatus.CONFLICT },
  { kinds: [RateLimitExceededError], status: HttpStatus.TOO_MANY_REQUESTS },
  {
    kinds: NOT_ACCEPTED,
    status: HttpStatus.SERVICE_UNAVAILABLE,
    message: (error) => `Job not accepted, try again: ${error.message}`,
  },
];

/**
 * The HTTP status and message for an error, as every answer of the API gives
 * them.
 */
export function describeApiError(
  exception: unknown,
  logger: Logger,
): [HttpStatus, string | string[]] {
  if (exception instanceof HttpException) {
    const body = exception.getResponse();
    const message =
      typeof body === 'object' && body !== null && 'message' in body
        ? (body as { message: string | string[] }).message
        : exception.message;
    return [exception.getStatus(), message];
  }
  const answer = ANSWERS.find(({ kinds }) =>
    kinds.some((kind) => exception instanceof kind),
  );
  if (answer) {
    const error = exception as Error;
    return [answer.status, answer.message?.(error) ?? error.message];
  }
  return describeFailure(exception, logger);
}

/**
 * Errors of the producer's own or of its storage: logged, and answered
 * without their detail unless the client can act on it.
 */
function describeFailure(
  exception: unknown,
  logger: Logger,
): [HttpStatus, string | string[]] {
  if (exception instanceof BlobStorageError) {
    logger.warn(exception.message);
    return [
      HttpStatus.SERVICE_UNAVAILABLE,
      'Storage is unavailable, try again',
    ];
  }
  if (exception instanceof ChecksumMismatchError) {
    logger.error(exception.message);
    return [
      HttpStatus.INTERNAL_SERVER_ERROR,
      `The stored output of this job does not match the checksum recorded for it: ${exception.message}`,
    ];
  }
  const code = (exception as { statusCode?: number }).statusCode;
  if (typeof code === 'number' && code >= 400 && code < 500)
    return [code, (exception as Error).message];
  logger.error(
    exception instanceof Error
      ? (exception.stack ?? exception.message)
      : String(exception),
  );
  return [HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error'];
}
