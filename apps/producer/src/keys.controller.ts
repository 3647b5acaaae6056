import { Body, Delete, Get, Post } from '@nestjs/common';
import {
  ApiKeysService,
  Caller,
  CurrentCaller,
  RequireScopes,
} from '@pipeline/auth';
import {
  Actor,
  ApiKeySelfView,
  ApiKeyView,
  CreateApiKeyRequest,
  CreatedApiKey,
  RotateApiKeyRequest,
} from '@pipeline/contracts';
import { Action, ApiController, IdParam } from './api-routes';
import { CurrentActor } from './request-context';

/**
 * API keys, for admins: create and rotate (the key is shown once), list (never
 * the key), revoke; and any key's own description.
 */
@ApiController('v1/keys', 'admin')
export class KeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  create(
    @Body() request: CreateApiKeyRequest,
    @CurrentActor() actor: Actor,
  ): Promise<CreatedApiKey> {
    return this.keys.create(request, actor);
  }

  /**
   * The calling key itself, with its limits and what it uses of them: any key
   * may ask.
   */
  @Get('me')
  @RequireScopes('jobs:write', 'jobs:read')
  me(@CurrentCaller() caller: Caller): Promise<ApiKeySelfView> {
    return this.keys.describe(caller);
  }

  @Get()
  list(): Promise<ApiKeyView[]> {
    return this.keys.list();
  }

  /** The key keeps its id, scopes, limits and jobs; only its secret changes. */
  @Action(':id/rotate', 200)
  rotate(
    @IdParam() id: string,
    @Body() request: RotateApiKeyRequest,
    @CurrentActor() actor: Actor,
  ): Promise<CreatedApiKey> {
    return this.keys.rotate(id, request, actor);
  }

  /** Takes effect on the next request, on every producer. */
  @Delete(':id')
  revoke(
    @IdParam() id: string,
    @CurrentActor() actor: Actor,
  ): Promise<ApiKeyView> {
    return this.keys.revoke(id, actor);
  }
}
