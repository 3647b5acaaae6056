import { DynamicModule, Module } from '@nestjs/common';
import { DatabaseModule, JobEventsRepository } from '@pipeline/database';
import { HealthModule, postgresCheck, rabbitmqCheck } from '@pipeline/health';
import { AmqpConnection, MessagingModule } from '@pipeline/messaging';
import { WriterConfig } from '@pipeline/platform';
import { Pool } from 'pg';
import { JobEventsHandler } from './job-events.handler';

@Module({})
export class WriterModule {
  static forRoot(config: WriterConfig): DynamicModule {
    return {
      module: WriterModule,
      imports: [
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'results-writer' }),
        MessagingModule.forRoot({
          url: config.AMQP_URL,
          prefix: config.AMQP_PREFIX,
          heartbeatSeconds: config.AMQP_HEARTBEAT_S,
          deliveryLimit: config.AMQP_DELIVERY_LIMIT,
          retryDelaysMs: config.RETRY_DELAYS_MS.split(',').map(Number),
          connectionName: `${config.AMQP_PREFIX} results-writer`,
        }),
        HealthModule.forChecks({ inject: [AmqpConnection, Pool], useFactory: (amqp: AmqpConnection, pool: Pool) => [rabbitmqCheck(amqp), postgresCheck(pool)] }),
      ],
      controllers: [JobEventsHandler],
      providers: [
        { provide: WriterConfig, useValue: config },
        { provide: JobEventsRepository, inject: [Pool], useFactory: (pool: Pool) => new JobEventsRepository(pool) },
      ],
    };
  }
}
