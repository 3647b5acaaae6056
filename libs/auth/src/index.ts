export * from './api-key';
export * from './api-key.guard';
export * from './api-keys.service';
export * from './auth.module';
export * from './caller';
export * from './rate-limit-exceeded.error';
export * from './rate-window';
