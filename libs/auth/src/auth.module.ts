import { DynamicModule, Module } from '@nestjs/common';
import { ApiKeysRepository } from '@pipeline/database';
import { Pool } from 'pg';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeyOptions, ApiKeysService } from './api-keys.service';

/**
 * API keys for the HTTP API: guard controllers with `@UseGuards(ApiKeyGuard)`
 * and `@RequireScopes(...)`.
 */
@Module({})
export class AuthModule {
  static forRoot(options: ApiKeyOptions): DynamicModule {
    return {
      module: AuthModule,
      providers: [
        { provide: ApiKeyOptions, useValue: options },
        {
          provide: ApiKeysRepository,
          inject: [Pool],
          useFactory: (pool: Pool) => new ApiKeysRepository(pool),
        },
        ApiKeysService,
        ApiKeyGuard,
      ],
      exports: [ApiKeysService, ApiKeyGuard],
    };
  }
}
