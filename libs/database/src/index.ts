export * from './batcher';
export * from './database.module';
export * from './job-events.repository';
export * from './job-patch';
export * from './jobs.repository';
export * from './migrate';
export * from './transient-errors';
export * from './workers.repository';
export { MIGRATIONS } from './migrations';
