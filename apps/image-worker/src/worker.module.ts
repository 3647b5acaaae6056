import { DynamicModule, Module, OnApplicationShutdown } from '@nestjs/common';
import {
  parseAddressAllowlist,
  parseSourcePorts,
  UrlFetcher,
} from '@pipeline/fetching';
import { ValidationFailed } from '@pipeline/contracts';
import { dependencyChecks, HealthModule } from '@pipeline/health';
import { MetricsModule, WorkerMetrics } from '@pipeline/metrics';
import { Registry } from 'prom-client';
import { MessagingModule } from '@pipeline/messaging';
import { WorkerConfig } from '@pipeline/platform';
import { StorageModule, storageOptionsOf } from '@pipeline/storage';
import { HeartbeatService } from './heartbeat.service';
import { ImageJobHandler } from './image-job.handler';
import { ImageJobProcessor } from './image-job.processor';
import { ImageJobRunner } from './image-job.runner';
import { JobEventPublisher } from './job-event-publisher';
import { JobInputs } from './job-input';
import { JobOutputs } from './job-outputs';
import { WorkerActivity } from './worker-activity';

@Module({})
export class WorkerModule implements OnApplicationShutdown {
  constructor(private readonly fetcher: UrlFetcher) {}

  /**
   * After the consumers drained: closes the pooled connections of URL
   * downloads.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.fetcher.close();
  }

  static forRoot(config: WorkerConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        MessagingModule.fromConfig(config, {
          connectionName: `image-worker ${config.WORKER_ID}`,
          publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
          consume: {
            queue: (topology) => topology.jobsQueue,
            prefetch: config.WORKER_PREFETCH,
            requeuePauseMs: 1000,
            maxTries: config.MAX_TRIES,
            isMalformed: (error) => error instanceof ValidationFailed,
          },
        }),
        StorageModule.forRoot(storageOptionsOf(config)),
        MetricsModule.forRoot('image-worker'),
        HealthModule.forChecks(dependencyChecks({ consumes: true })),
      ],
      controllers: [ImageJobHandler],
      providers: [
        { provide: WorkerConfig, useValue: config },
        WorkerActivity,
        HeartbeatService,
        JobEventPublisher,
        JobInputs,
        JobOutputs,
        ImageJobProcessor,
        ImageJobRunner,
        {
          provide: WorkerMetrics,
          inject: [Registry, WorkerActivity],
          useFactory: (registry: Registry, activity: WorkerActivity) =>
            new WorkerMetrics(
              registry,
              config.WORKER_CONCURRENCY,
              () => activity.inFlight,
              () => activity.processing,
            ),
        },
        {
          provide: UrlFetcher,
          useFactory: () =>
            new UrlFetcher({
              allowlist: parseAddressAllowlist(config.SOURCE_URL_ALLOWLIST),
              ports: parseSourcePorts(config.SOURCE_URL_PORTS),
              maxBytes: config.SOURCE_URL_MAX_BYTES,
              timeoutMs: config.SOURCE_URL_TIMEOUT_MS,
              maxRedirects: config.SOURCE_URL_MAX_REDIRECTS,
              userAgent: 'image-pipeline-worker',
            }),
        },
      ],
    };
  }
}
