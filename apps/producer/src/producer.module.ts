import { DynamicModule, Module } from '@nestjs/common';
import { ApiKeysService, AuthModule, presentsAdminKey } from '@pipeline/auth';
import { DatabaseModule } from '@pipeline/database';
import { dependencyChecks, HealthModule } from '@pipeline/health';
import {
  AmqpConnection,
  MessagingModule,
  queueDepths,
} from '@pipeline/messaging';
import { MetricsModule, ProducerMetrics } from '@pipeline/metrics';
import { Registry } from 'prom-client';
import { ProducerConfig } from '@pipeline/platform';
import { StorageModule, storageOptionsOf } from '@pipeline/storage';
import { DEFAULT_PRESETS, parsePresets } from '@pipeline/contracts';
import { ApiDocsController } from './api-docs.controller';
import { AuditController } from './audit.controller';
import { DashboardController } from './dashboard.controller';
import { DeadLettersController } from './dead-letters.controller';
import { JobOperationsService } from './job-operations.service';
import { JobsController } from './jobs.controller';
import { JobActionsController } from './job-actions.controller';
import { JobResultsController } from './job-results.controller';
import { JobPreviewsController } from './job-previews.controller';
import { JobPreviewService } from './job-preview.service';
import { JobSubmissionsController } from './job-submissions.controller';
import { AuditLogService } from './audit-log.service';
import { DeadLettersService } from './dead-letters.service';
import { JobBatchService } from './job-batch.service';
import { JobInputCheck } from './job-input-check';
import { JobIntakeService } from './job-intake.service';
import { JobQueryService } from './job-query.service';
import { JobResultService } from './job-result.service';
import { KeysController } from './keys.controller';
import { PRESETS, PresetsController } from './presets.controller';
import { StatsController } from './stats.controller';
import { StatsService } from './stats.service';
import { JobSubmissionService } from './job-submission.service';
import { OutputSizeCheck } from './output-size-check';
import { UploadReader } from './upload-reader';

/** Every controller of the producer: what it serves. */
export const PRODUCER_CONTROLLERS = [
  JobSubmissionsController,
  JobsController,
  JobResultsController,
  JobPreviewsController,
  JobActionsController,
  KeysController,
  PresetsController,
  DeadLettersController,
  StatsController,
  AuditController,
  DashboardController,
  ApiDocsController,
];

/** The services behind the controllers: what the producer does. */
const PRODUCER_SERVICES = [
  JobSubmissionService,
  JobOperationsService,
  StatsService,
  UploadReader,
  OutputSizeCheck,
  JobInputCheck,
  JobIntakeService,
  JobBatchService,
  JobQueryService,
  JobResultService,
  JobPreviewService,
  DeadLettersService,
  AuditLogService,
];

/** The producer's metrics, with the queue depths read from the broker. */
const producerMetrics = {
  provide: ProducerMetrics,
  inject: [Registry, AmqpConnection],
  useFactory: (registry: Registry, connection: AmqpConnection) =>
    new ProducerMetrics(registry, () =>
      queueDepths(connection, connection.topology.queues),
    ),
};

@Module({})
export class ProducerModule {
  static forRoot(config: ProducerConfig): DynamicModule {
    // One module for the API's guard and for readiness, which shows its detail
    // to admin keys only.
    const auth = AuthModule.fromConfig(config);
    return {
      module: ProducerModule,
      imports: [
        DatabaseModule.fromConfig(config, 'producer'),
        MessagingModule.fromConfig(config, {
          connectionName: 'producer',
          publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
        }),
        StorageModule.forRoot(storageOptionsOf(config)),
        MetricsModule.forRoot('producer', {
          port: config.METRICS_PORT,
          host: config.HOST,
        }),
        auth,
        // The API port is public: it says ready or not, and which dependency is
        // down only to an admin key; METRICS_PORT, inside the cluster, says it
        // to everyone (see startProducer).
        HealthModule.forChecks({
          ...dependencyChecks({ database: true }),
          detail: {
            imports: [auth],
            inject: [ApiKeysService],
            useFactory: (keys: ApiKeysService) => (request) =>
              presentsAdminKey(keys, request),
          },
        }),
      ],
      controllers: PRODUCER_CONTROLLERS,
      providers: [
        { provide: ProducerConfig, useValue: config },
        {
          provide: PRESETS,
          useValue: config.PRESETS
            ? parsePresets(config.PRESETS)
            : DEFAULT_PRESETS,
        },
        producerMetrics,
        ...PRODUCER_SERVICES,
      ],
    };
  }
}
