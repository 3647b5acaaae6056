import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { Actor, ValidationFailed } from '@pipeline/contracts';
import { FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';

/**
 * The id that follows this request into the logs, the job's messages and the
 * audit log (X-Request-Id, if sane).
 */
export function correlationIdOf(request: FastifyRequest): string {
  return /^[\w.:-]{1,128}$/.test(request.id) ? request.id : randomUUID();
}

/**
 * Who is making a change: the request's API key (set by ApiKeyGuard) and its
 * request id.
 */
export const CurrentActor = createParamDecorator(
  (_: unknown, context: ExecutionContext): Actor => {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (!request.caller)
      throw new Error('CurrentActor used on a route without ApiKeyGuard');
    return {
      apiKeyId: request.caller.keyId,
      requestId: correlationIdOf(request),
    };
  },
);

/**
 * The request's Idempotency-Key, if it sent one that can be used (one it
 * cannot use is refused with 400).
 */
export const IdempotencyKey = createParamDecorator(
  (_: unknown, context: ExecutionContext): string | undefined => {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const key = request.headers['idempotency-key'];
    if (key === undefined) return undefined;
    if (typeof key !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(key)) {
      throw new ValidationFailed([
        'Idempotency-Key must be 1 to 200 visible ASCII characters',
      ]);
    }
    return key;
  },
);

/** The request's correlation id (see correlationIdOf). */
export const CorrelationId = createParamDecorator(
  (_: unknown, context: ExecutionContext): string =>
    correlationIdOf(context.switchToHttp().getRequest<FastifyRequest>()),
);
