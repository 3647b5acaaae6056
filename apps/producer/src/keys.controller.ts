import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, ApiKeysService, Caller, CurrentCaller, RequireScopes } from '@pipeline/auth';
import { ApiKeyView, CreateApiKeyRequest, CreatedApiKey, RotateApiKeyRequest } from '@pipeline/contracts';

/** API keys, for admins: create and rotate (the key is shown once), list (never the key), revoke; and any key's own description. */
@Controller('v1/keys')
@UseGuards(ApiKeyGuard)
@RequireScopes('admin')
export class KeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  create(@Body() request: CreateApiKeyRequest): Promise<CreatedApiKey> {
    return this.keys.create(request);
  }

  /** The calling key itself: any key may ask. */
  @Get('me')
  @RequireScopes('jobs:write', 'jobs:read')
  me(@CurrentCaller() caller: Caller): { id: string; name: string; scopes: Caller['scopes']; limits: Caller['limits']; expiresAt: string | null } {
    return { id: caller.keyId, name: caller.name, scopes: caller.scopes, limits: caller.limits, expiresAt: caller.expiresAt };
  }

  @Get()
  list(): Promise<ApiKeyView[]> {
    return this.keys.list();
  }

  /** The key keeps its id, scopes, limits and jobs; only its secret changes. */
  @Post(':id/rotate')
  @HttpCode(200)
  rotate(@Param('id', new ParseUUIDPipe()) id: string, @Body() request: RotateApiKeyRequest): Promise<CreatedApiKey> {
    return this.keys.rotate(id, request);
  }

  /** Takes effect on the next request, on every producer. */
  @Delete(':id')
  revoke(@Param('id', new ParseUUIDPipe()) id: string): Promise<ApiKeyView> {
    return this.keys.revoke(id);
  }
}
