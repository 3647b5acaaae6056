import {
  applyDecorators,
  Controller,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  UseGuards,
} from '@nestjs/common';
import { ApiKeyGuard, RequireScopes } from '@pipeline/auth';
import { Scope } from '@pipeline/contracts';

/**
 * A controller of the API below `/v1`: every route takes an API key, with one
 * of `scopes` unless the route names its own.
 */
export function ApiController(
  path: string,
  ...scopes: Scope[]
): ClassDecorator {
  return applyDecorators(
    Controller(path),
    UseGuards(ApiKeyGuard),
    ...scoped(scopes),
  );
}

/**
 * A POST that answers `status` (Nest's own would be 201), for a key with one
 * of `scopes` (without them, the controller's).
 */
export function Action(
  path: string,
  status: number,
  ...scopes: Scope[]
): MethodDecorator {
  return applyDecorators(Post(path), HttpCode(status), ...scoped(scopes));
}

/** The `:id` of the route, which must be a UUID (400 otherwise). */
export const IdParam = (): ParameterDecorator =>
  Param('id', new ParseUUIDPipe());

/** No scopes: the route keeps what it would need without them. */
function scoped(scopes: Scope[]): Array<ReturnType<typeof RequireScopes>> {
  return scopes.length > 0 ? [RequireScopes(...scopes)] : [];
}
