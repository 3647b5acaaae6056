import 'reflect-metadata';
import { ensureDatabase, migrate } from '@pipeline/database';
import { DatabaseConfig, loadConfig, run } from '@pipeline/platform';

/**
 * `npm run migrate`: creates the database if it is missing and applies pending
 * migrations.
 */
run(async () => {
  const config = loadConfig(DatabaseConfig);
  await ensureDatabase(config.DATABASE_URL);
  const applied = await migrate({ connectionString: config.DATABASE_URL });
  console.log(
    applied.length > 0
      ? `Applied migrations: ${applied.join(', ')}`
      : 'Database schema is up to date',
  );
});
