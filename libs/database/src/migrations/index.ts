import * as jobs from './001-jobs';
import * as idempotencyKeys from './002-idempotency-keys';

/** Every migration, in the order applied. Append; never edit one that has shipped. */
export const MIGRATIONS: Array<{ name: string; sql: string }> = [jobs, idempotencyKeys];
