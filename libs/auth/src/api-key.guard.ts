import {
  CanActivate,
  createParamDecorator,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Scope } from '@pipeline/contracts';
import { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, grants } from './api-key';
import { ApiKeysService } from './api-keys.service';
import { Caller, isAdmin } from './caller';

export const REQUIRED_SCOPES = 'pipeline:required-scopes';

/**
 * The scopes of which a key needs one to call the route (`admin` always
 * qualifies).
 */
export const RequireScopes = (...scopes: Scope[]) =>
  SetMetadata(REQUIRED_SCOPES, scopes);

/** The authenticated caller of a guarded route. */
export const CurrentCaller = createParamDecorator(
  (_: unknown, context: ExecutionContext): Caller => {
    const caller = context.switchToHttp().getRequest<FastifyRequest>().caller;
    if (!caller)
      throw new Error('CurrentCaller used on a route without ApiKeyGuard');
    return caller;
  },
);

/**
 * Lets a request through when it carries a live API key (401 otherwise) that is
 * within its request limit (429) and has one of the route's scopes (403). A
 * route that declares no scopes is refused for everyone: forgetting them must
 * not open a route.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const needed = this.reflector.getAllAndOverride<Scope[] | undefined>(
      REQUIRED_SCOPES,
      [context.getHandler(), context.getClass()],
    );
    if (!needed || needed.length === 0)
      throw new Error(
        `${context.getClass().name}.${context.getHandler().name} declares no scopes`,
      );
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const token = bearerToken(request.headers.authorization);
    if (token === null)
      throw new UnauthorizedException(
        'an API key is required: send it as "Authorization: Bearer <key>"',
      );
    const caller = await this.keys.authenticate(token);
    const usage = await this.keys.countRequest(caller);
    if (usage) {
      http
        .getResponse<FastifyReply>()
        .header('RateLimit-Limit', String(usage.limit))
        .header('RateLimit-Remaining', String(usage.remaining))
        .header('RateLimit-Reset', String(usage.resetSeconds));
    }
    if (!grants(caller.scopes, needed))
      throw new ForbiddenException(
        `this API key lacks the scope ${needed.join(' or ')}`,
      );
    request.caller = caller;
    return true;
  }
}

/**
 * Whether a request to an open route (readiness) carries a live admin key, for
 * what only admins may see there. A missing or bad key is not an error on such
 * a route: the answer is only shorter.
 */
export async function presentsAdminKey(
  keys: Pick<ApiKeysService, 'authenticate'>,
  request: Pick<FastifyRequest, 'headers'>,
): Promise<boolean> {
  const token = bearerToken(request.headers.authorization);
  if (token === null) return false;
  return keys.authenticate(token).then(isAdmin, () => false);
}
