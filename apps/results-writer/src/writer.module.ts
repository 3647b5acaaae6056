import { DynamicModule, Module } from '@nestjs/common';
import { ValidationFailed } from '@pipeline/contracts';
import { DatabaseModule } from '@pipeline/database';
import { dependencyChecks, HealthModule } from '@pipeline/health';
import { MetricsModule, WriterMetrics } from '@pipeline/metrics';
import { MessagingModule } from '@pipeline/messaging';
import { WriterConfig } from '@pipeline/platform';
import { StorageModule, storageOptionsOf } from '@pipeline/storage';
import { Registry } from 'prom-client';
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
        DatabaseModule.fromConfig(config, 'results-writer'),
        MessagingModule.fromConfig(config, {
          connectionName: 'results-writer',
          consume: {
            queue: (topology) => topology.eventsQueue,
            prefetch: config.WRITER_PREFETCH,
            requeuePauseMs: 2000,
            isMalformed: (error) => error instanceof ValidationFailed,
          },
        }),
        MetricsModule.forRoot('results-writer'),
        StorageModule.forRoot(storageOptionsOf(config)),
        HealthModule.forChecks(
          dependencyChecks({ consumes: true, database: true }),
        ),
      ],
      controllers: [JobEventsHandler, WorkerHeartbeatsHandler],
      providers: [
        { provide: WriterConfig, useValue: config },
        {
          provide: WriterMetrics,
          inject: [Registry],
          useFactory: (registry: Registry) => new WriterMetrics(registry),
        },
        JobSweeper,
        ExpirySweeper,
        JobEventsRecorder,
        WorkerHeartbeats,
      ],
    };
  }
}
