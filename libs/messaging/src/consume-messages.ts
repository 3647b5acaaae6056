import { INestApplication } from '@nestjs/common';
import { AmqpTransport, PassHandlerErrorsToTransport } from './amqp-transport';

/**
 * For apps that consume messages: starts the AmqpTransport their
 * MessagingModule provides (see its `consume`), with handler errors passed to
 * it as thrown.
 */
export async function consumeMessages(app: INestApplication): Promise<void> {
  const transport = app.get(AmqpTransport);
  app.useGlobalFilters(new PassHandlerErrorsToTransport(app.getHttpAdapter()));
  app.connectMicroservice({ strategy: transport }, { inheritAppConfig: true });
  await app.startAllMicroservices();
}
