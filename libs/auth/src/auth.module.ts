import { DynamicModule, Module } from '@nestjs/common';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeyOptions, ApiKeysService } from './api-keys.service';

/**
 * API keys for the HTTP API: guard controllers with `@UseGuards(ApiKeyGuard)`
 * and `@RequireScopes(...)`. The keys' repository comes from the app's
 * DatabaseModule.
 */
@Module({})
export class AuthModule {
  static forRoot(options: ApiKeyOptions): DynamicModule {
    return {
      module: AuthModule,
      providers: [
        { provide: ApiKeyOptions, useValue: options },
        ApiKeysService,
        ApiKeyGuard,
      ],
      exports: [ApiKeysService, ApiKeyGuard],
    };
  }
}
