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
  if (exception instanceof ValidationFailed)
    return [HttpStatus.BAD_REQUEST, exception.problems];
  if (exception instanceof ImagePathError)
    return [HttpStatus.BAD_REQUEST, [exception.message]];
  if (exception instanceof UnsupportedImageError)
    return [HttpStatus.UNSUPPORTED_MEDIA_TYPE, exception.message];
  if (
    exception instanceof PayloadTooLargeError ||
    exception instanceof StorageQuotaExceededError
  )
    return [HttpStatus.PAYLOAD_TOO_LARGE, exception.message];
  if (exception instanceof OutputsExpiredError)
    return [HttpStatus.GONE, exception.message];
  if (CONFLICTS.some((conflict) => exception instanceof conflict))
    return [HttpStatus.CONFLICT, (exception as Error).message];
  if (exception instanceof RateLimitExceededError)
    return [HttpStatus.TOO_MANY_REQUESTS, exception.message];
  if (
    exception instanceof BrokerUnavailableError ||
    exception instanceof UnroutableMessageError ||
    exception instanceof DependencyUnavailableError
  ) {
    return [
      HttpStatus.SERVICE_UNAVAILABLE,
      `Job not accepted, try again: ${exception.message}`,
    ];
  }
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
