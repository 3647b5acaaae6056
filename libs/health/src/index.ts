export * from './health.module';
export * from './checks';
