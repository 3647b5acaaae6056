import { DynamicModule, Module } from '@nestjs/common';
import { ProducerConfig } from '@pipeline/platform';
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

  /** The module as the producer's settings say: its admin key and limits. */
  static fromConfig(config: ProducerConfig): DynamicModule {
    return AuthModule.forRoot({
      adminKey: config.ADMIN_API_KEY,
      windowMs: config.RATE_LIMIT_WINDOW_S * 1000,
      requestsPerWindow: config.RATE_LIMIT_REQUESTS,
      jobsInFlight: config.RATE_LIMIT_JOBS_IN_FLIGHT,
      storedBytes: config.QUOTA_STORED_BYTES,
      jobsPerDay: config.QUOTA_JOBS_PER_DAY,
    });
  }
}
