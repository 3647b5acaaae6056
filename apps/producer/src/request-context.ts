import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { Actor } from '@pipeline/contracts';
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
