export * from './topology';
export * from './amqp-connection';
export * from './errors';
export * from './message-publisher';
export * from './amqp-transport';
export * from './messaging.module';
export * from './dead-letters';
export * from './queue-depths';
