import { DynamicModule, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { Pool } from 'pg';

export interface DatabaseOptions {
  url: string;
  poolSize: number;
  applicationName: string;
}

/** A PostgreSQL pool for the app, ended when the app shuts down. */
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(Pool) private readonly pool: Pool) {}

  static forRoot(options: DatabaseOptions): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [
        {
          provide: Pool,
          useFactory: () => {
            const pool = new Pool({
              connectionString: options.url,
              max: options.poolSize,
              application_name: options.applicationName,
              // Fail fast while the server is unreachable instead of queueing forever.
              connectionTimeoutMillis: 5000,
            });
            // An idle client that loses its connection emits here; the pool replaces it.
            pool.on('error', () => undefined);
            return pool;
          },
        },
      ],
      exports: [Pool],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
