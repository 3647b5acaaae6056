import { DynamicModule, Module } from '@nestjs/common';
import { HealthModule, rabbitmqCheck } from '@pipeline/health';
import { AmqpConnection, MessagingModule } from '@pipeline/messaging';
import { WorkerConfig } from '@pipeline/platform';
import { StorageModule } from '@pipeline/storage';
import { ImageJobHandler } from './image-job.handler';

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        MessagingModule.forRoot({
          url: config.AMQP_URL,
          prefix: config.AMQP_PREFIX,
          heartbeatSeconds: config.AMQP_HEARTBEAT_S,
          deliveryLimit: config.AMQP_DELIVERY_LIMIT,
          connectionName: `${config.AMQP_PREFIX} image-worker ${config.WORKER_ID}`,
          publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
        }),
        StorageModule.forRoot({ storageDir: config.STORAGE_DIR, imagesDir: config.IMAGES_DIR }),
        HealthModule.forChecks({ inject: [AmqpConnection], useFactory: (amqp: AmqpConnection) => [rabbitmqCheck(amqp)] }),
      ],
      controllers: [ImageJobHandler],
      providers: [{ provide: WorkerConfig, useValue: config }],
    };
  }
}
