import {
  DynamicModule,
  Inject,
  Logger,
  Module,
  OnApplicationShutdown,
} from '@nestjs/common';
import { DatabaseConfig } from '@pipeline/platform';
import { Pool } from 'pg';
import { ApiKeysRepository } from './api-keys.repository';
import { AuditLogRepository } from './audit-log.repository';
import { JobEventsRepository } from './job-events.repository';
import { JobSweepRepository } from './job-sweep.repository';
import { JobsRepository } from './jobs.repository';
import { RetentionRepository } from './retention.repository';
import { WorkersRepository } from './workers.repository';

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

/**
 * Every repository, each built on the app's pool: an app injects the ones it
 * uses.
 */
const REPOSITORIES = [
  ApiKeysRepository,
  AuditLogRepository,
  JobEventsRepository,
  JobSweepRepository,
  JobsRepository,
  RetentionRepository,
  WorkersRepository,
];

/**
 * Provides the app's pool, ended when the app shuts down, and the repositories
 * on it.
 */
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(Pool) private readonly pool: Pool) {}

  static forRoot(options: DatabaseOptions): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [
        { provide: Pool, useFactory: () => createPool(options) },
        ...REPOSITORIES.map((repository) => ({
          provide: repository,
          inject: [Pool],
          useFactory: (pool: Pool) => new repository(pool),
        })),
      ],
      exports: [Pool, ...REPOSITORIES],
    };
  }

  /** The module as the app's settings say; `applicationName` names the app. */
  static fromConfig(
    config: DatabaseConfig,
    applicationName: string,
  ): DynamicModule {
    return DatabaseModule.forRoot({
      url: config.DATABASE_URL,
      poolSize: config.DATABASE_POOL_SIZE,
      applicationName,
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
