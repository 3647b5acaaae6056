'use strict';
// The environment of each process `npm start` runs: an app is given its own
// settings and none of another app's, so that a worker, which downloads URLs
// its jobs name, holds neither the admin API key nor the database's URL and
// password. Kept in step with the config classes of
// libs/platform/src/settings.ts by scripts/child-env.spec.ts.

const SHARED = [
  'AMQP_URL',
  'AMQP_PREFIX',
  'AMQP_HEARTBEAT_S',
  'AMQP_DELIVERY_LIMIT',
  'AMQP_QUORUM_INITIAL_GROUP_SIZE',
  'AMQP_TOPOLOGY',
  'RETRY_DELAYS_MS',
  'SHUTDOWN_GRACE_MS',
  'STORAGE_DIR',
  'STORAGE_URL',
  'S3_FORCE_PATH_STYLE',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'IMAGES_DIR',
  'LOG_FORMAT',
  'LOG_LEVEL',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_SERVICE_NAME',
  'OTEL_BSP_SCHEDULE_DELAY',
];
const DATABASE = ['DATABASE_URL', 'DATABASE_POOL_SIZE'];

/** The settings each app reads (its config class's variables). */
const APP_SETTINGS = {
  producer: [
    ...SHARED,
    ...DATABASE,
    'PORT',
    'HOST',
    'PUBLISH_TIMEOUT_MS',
    'MAX_UPLOAD_BYTES',
    'MAX_BATCH_JOBS',
    'MAX_BATCH_OPERATIONS',
    'MAX_OUTPUT_PIXELS',
    'WORKER_GONE_AFTER_S',
    'STUCK_AFTER_S',
    'PRESETS',
    'ADMIN_API_KEY',
    'RATE_LIMIT_WINDOW_S',
    'RATE_LIMIT_REQUESTS',
    'RATE_LIMIT_JOBS_IN_FLIGHT',
    'CORS_ORIGINS',
    'METRICS_PORT',
    'SOURCE_URL_PORTS',
    'QUOTA_STORED_BYTES',
    'QUOTA_JOBS_PER_DAY',
    'RESULT_DELIVERY',
    'RESULT_URL_EXPIRES_S',
  ],
  'image-worker': [
    ...SHARED,
    'PORT',
    'HOST',
    'WORKER_PREFETCH',
    'WORKER_CONCURRENCY',
    'WORKER_CPU_SCHEDULING',
    'WORKER_ID',
    'PUBLISH_TIMEOUT_MS',
    'STARTED_EVENT_AFTER_MS',
    'MAX_INPUT_PIXELS',
    'HEARTBEAT_INTERVAL_S',
    'MAX_TRIES',
    'MAX_INPUT_FRAMES',
    'JOB_TIMEOUT_S',
    'AMQP_CONSUMER_TIMEOUT_MS',
    'MAX_OUTPUT_PIXELS',
    'SOURCE_URL_ALLOWLIST',
    'SOURCE_URL_PORTS',
    'SOURCE_URL_MAX_BYTES',
    'SOURCE_URL_TIMEOUT_MS',
    'SOURCE_URL_MAX_REDIRECTS',
    'INPUT_FORMATS',
  ],
  'results-writer': [
    ...SHARED,
    ...DATABASE,
    'PORT',
    'HOST',
    'WRITER_PREFETCH',
    'WRITER_MAX_BATCH',
    'SWEEP_INTERVAL_S',
    'SWEEP_REPUBLISH_AFTER_S',
    'WORKER_GONE_AFTER_S',
    'RETENTION_OUTPUTS_S',
    'RETENTION_UPLOADS_S',
    'RETENTION_JOBS_S',
    'RETENTION_SWEEP_INTERVAL_S',
  ],
  migrator: [...SHARED, ...DATABASE],
};

const APPS_WITH_DATABASE = new Set(
  Object.keys(APP_SETTINGS).filter((app) =>
    APP_SETTINGS[app].includes('DATABASE_URL'),
  ),
);

/**
 * Every app's settings together: one of them is given only to the apps that
 * read it.
 */
const ALL_SETTINGS = new Set(Object.values(APP_SETTINGS).flat());

/**
 * Variables that are no app's: the launcher's own, the CLI's key, and the
 * secrets of docker-compose's .env should a shell have them set.
 */
const NOT_FOR_APPS = new Set([
  'WORKERS',
  'PIPELINE_URL',
  'PIPELINE_API_KEY',
  'RABBITMQ_PASSWORD',
  'RABBITMQ_ERLANG_COOKIE',
  'POSTGRES_PASSWORD',
  'PGADMIN_EMAIL',
  'PGADMIN_PASSWORD',
  'GRAFANA_PASSWORD',
]);

/**
 * libpq's variables (PGPASSWORD, PGHOST, …), which node-postgres reads too: for
 * the apps with a database only.
 */
const isPostgresVariable = (name) => /^PG[A-Z]+$/.test(name);

/**
 * The environment for `app` (a key of APP_SETTINGS): of `env` and then `extra`
 * (the settings the launcher gives this process, such as its PORT), the app's
 * own settings, and whatever is no app's setting (PATH, HOME, NODE_OPTIONS,
 * NODE_EXTRA_CA_CERTS, …) but the variables of NOT_FOR_APPS, and libpq's for an
 * app without a database.
 */
function childEnv(app, env, extra = {}) {
  const own = APP_SETTINGS[app];
  if (!own)
    throw new Error(
      `childEnv: unknown app "${app}" (one of ${Object.keys(APP_SETTINGS).join(', ')})`,
    );
  const result = {};
  for (const [name, value] of Object.entries({ ...env, ...extra })) {
    if (value === undefined || NOT_FOR_APPS.has(name)) continue;
    if (
      ALL_SETTINGS.has(name)
        ? !own.includes(name)
        : isPostgresVariable(name) && !APPS_WITH_DATABASE.has(app)
    )
      continue;
    result[name] = value;
  }
  return result;
}

module.exports = { APP_SETTINGS, NOT_FOR_APPS, childEnv };
