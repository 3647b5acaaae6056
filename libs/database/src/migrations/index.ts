import * as jobs from './001-jobs';

/** Every migration, in the order applied. Append; never edit one that has shipped. */
export const MIGRATIONS: Array<{ name: string; sql: string }> = [jobs];
