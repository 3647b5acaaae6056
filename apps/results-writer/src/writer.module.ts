import { DynamicModule, Module } from '@nestjs/common';
import {
  DatabaseModule,
  JobEventsRepository,
  JobSweepRepository,
  RetentionRepository,
  WorkersRepository,
} from '@pipeline/database';
import {
  consumersCheck,
  HealthModule,
  postgresCheck,
  rabbitmqCheck,
  storageChecks,
} from '@pipeline/health';
import { MetricsModule, WriterMetrics } from '@pipeline/metrics';
import { Registry } from 'prom-client';
import {
  AmqpConnection,
  AmqpTransport,
  MessagingModule,
} from '@pipeline/messaging';
import { WriterConfig, storageOptionsOf } from '@pipeline/platform';
import { BlobStorage, StorageModule } from '@pipeline/storage';
import { Pool } from 'pg';
import { ExpirySweeper } from './expiry-sweeper.service';
import { JobEventsHandler } from './job-events.handler';
import { JobEventsRecorder } from './job-events.recorder';
import { JobSweeper } from './job-sweeper.service';
import { WorkerHeartbeatsHandler } from './worker-heartbeats.handler';
import { WorkerHeartbeats } from './worker-heartbeats.service';

@Module({})
export class WriterModule {
  static forRoot(config: WriterConfig): DynamicModule {
    return {
      module: WriterModule,
      imports: [
        DatabaseModule.forRoot({
          url: config.DATABASE_URL,
          poolSize: config.DATABASE_POOL_SIZE,
          applicationName: 'results-writer',
        }),
        MessagingModule.forRoot({
          url: config.AMQP_URL,
          prefix: config.AMQP_PREFIX,
          heartbeatSeconds: config.AMQP_HEARTBEAT_S,
          topologyMode: config.AMQP_TOPOLOGY,
          deliveryLimit: config.AMQP_DELIVERY_LIMIT,
          quorumInitialGroupSize: config.AMQP_QUORUM_INITIAL_GROUP_SIZE,
          retryDelaysMs: config.RETRY_DELAYS_MS.split(',').map(Number),
          connectionName: `${config.AMQP_PREFIX} results-writer`,
          consume: {
            queue: (topology) => topology.eventsQueue,
            prefetch: config.WRITER_PREFETCH,
            retryDelayMs: 2000,
            shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
          },
        }),
        MetricsModule.forRoot('results-writer'),
        StorageModule.forRoot(storageOptionsOf(config)),
        HealthModule.forChecks({
          inject: [AmqpConnection, AmqpTransport, Pool, BlobStorage],
          useFactory: (
            amqp: AmqpConnection,
            transport: AmqpTransport,
            pool: Pool,
            storage: BlobStorage,
          ) => [
            rabbitmqCheck(amqp),
            consumersCheck(transport),
            postgresCheck(pool),
            ...storageChecks(storage),
          ],
        }),
      ],
      controllers: [JobEventsHandler, WorkerHeartbeatsHandler],
      providers: [
        { provide: WriterConfig, useValue: config },
        {
          provide: JobEventsRepository,
          inject: [Pool],
          useFactory: (pool: Pool) => new JobEventsRepository(pool),
        },
        {
          provide: WriterMetrics,
          inject: [Registry],
          useFactory: (registry: Registry) => new WriterMetrics(registry),
        },
        {
          provide: WorkersRepository,
          inject: [Pool],
          useFactory: (pool: Pool) => new WorkersRepository(pool),
        },
        {
          provide: JobSweepRepository,
          inject: [Pool],
          useFactory: (pool: Pool) => new JobSweepRepository(pool),
        },
        JobSweeper,
        {
          provide: RetentionRepository,
          inject: [Pool],
          useFactory: (pool: Pool) => new RetentionRepository(pool),
        },
        ExpirySweeper,
        JobEventsRecorder,
        WorkerHeartbeats,
      ],
    };
  }
}
