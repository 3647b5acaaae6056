import {
  DynamicModule,
  Inject,
  Logger,
  Module,
  OnApplicationShutdown,
} from '@nestjs/common';
import { Pool } from 'pg';

export interface DatabaseOptions {
  url: string;
  poolSize: number;
  applicationName: string;
}

/**
 * The app's PostgreSQL pool. A client whose server goes away emits 'error' on
 * itself, also while it is checked out between two statements of a transaction,
 * where the pool listens no more: without a listener of its own that event
 * would end the process. The statement that runs next on it fails instead (a
 * transient error, retried by the caller), and the pool drops the client when
 * it is released.
 */
export function createPool(options: DatabaseOptions): Pool {
  const logger = new Logger('Database');
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolSize,
    application_name: options.applicationName,
    // Fail fast while the server is unreachable instead of queueing forever.
    connectionTimeoutMillis: 5000,
  });
  // An idle client that loses its connection emits here; the pool replaces it.
  pool.on('error', () => undefined);
  pool.on('connect', (client) =>
    client.on('error', (error) =>
      logger.warn(`A PostgreSQL connection was lost: ${error.message}`),
    ),
  );
  return pool;
}

/** Provides the app's pool, ended when the app shuts down. */
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(Pool) private readonly pool: Pool) {}

  static forRoot(options: DatabaseOptions): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [{ provide: Pool, useFactory: () => createPool(options) }],
      exports: [Pool],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
