import {
  DatabaseConfig,
  ProducerConfig,
  WorkerConfig,
  WriterConfig,
} from '@pipeline/platform';

// The launcher is plain JavaScript, run by node without a build step.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { APP_SETTINGS, NOT_FOR_APPS, childEnv } = require('./child-env') as {
  APP_SETTINGS: Record<string, string[]>;
  NOT_FOR_APPS: Set<string>;
  childEnv: (
    app: string,
    env: Record<string, string | undefined>,
    extra?: Record<string, string>,
  ) => Record<string, string>;
};

/**
 * An environment as a shell might hand `npm start`: every app's settings and
 * secrets, and the system's variables.
 */
const env = {
  PATH: '/usr/bin',
  HOME: '/home/me',
  NODE_EXTRA_CA_CERTS: '/etc/ca.pem',
  NODE_OPTIONS: '--max-old-space-size=2048',
  AMQP_URL: 'amqp://pipeline:secret@rabbit:5672',
  LOG_LEVEL: 'warn',
  DATABASE_URL: 'postgres://pipeline:secret@db/pipeline',
  PGPASSWORD: 'secret',
  ADMIN_API_KEY: 'an-admin-key-of-more-than-32-characters',
  METRICS_PORT: '9464',
  WORKER_PREFETCH: '8',
  SOURCE_URL_ALLOWLIST: '10.0.0.0/8',
  WRITER_MAX_BATCH: '100',
  WORKERS: '4',
  PIPELINE_API_KEY: 'ipk_the_cli_key',
  POSTGRES_PASSWORD: 'secret',
  RABBITMQ_PASSWORD: 'secret',
};

describe('childEnv', () => {
  it.each([
    ['producer', ProducerConfig],
    ['image-worker', WorkerConfig],
    ['results-writer', WriterConfig],
    ['migrator', DatabaseConfig],
  ] as const)(
    'gives the %s exactly the settings its config class reads',
    (app, config) => {
      expect([...APP_SETTINGS[app]].sort()).toEqual(
        Object.keys(new config()).sort(),
      );
    },
  );

  it('gives a worker neither the admin key nor the database, nor anything of the other apps', () => {
    expect(
      childEnv('image-worker', env, { PORT: '3001', WORKER_ID: 'worker-1' }),
    ).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/me',
      NODE_EXTRA_CA_CERTS: '/etc/ca.pem',
      NODE_OPTIONS: '--max-old-space-size=2048',
      AMQP_URL: 'amqp://pipeline:secret@rabbit:5672',
      LOG_LEVEL: 'warn',
      WORKER_PREFETCH: '8',
      SOURCE_URL_ALLOWLIST: '10.0.0.0/8',
      PORT: '3001',
      WORKER_ID: 'worker-1',
    });
  });

  it('gives the producer the admin key and the database, and no worker setting', () => {
    const producer = childEnv('producer', env, {
      PORT: '3000',
      METRICS_PORT: '3004',
    });
    expect(producer).toMatchObject({
      ADMIN_API_KEY: env.ADMIN_API_KEY,
      DATABASE_URL: env.DATABASE_URL,
      PGPASSWORD: 'secret',
      METRICS_PORT: '3004',
      PORT: '3000',
      AMQP_URL: env.AMQP_URL,
    });
    for (const name of [
      'WORKER_PREFETCH',
      'SOURCE_URL_ALLOWLIST',
      'WRITER_MAX_BATCH',
    ])
      expect(producer).not.toHaveProperty(name);
  });

  it('gives the writer and the migrator the database, not the admin key', () => {
    for (const app of ['results-writer', 'migrator']) {
      const child = childEnv(app, env);
      expect(child).toMatchObject({
        DATABASE_URL: env.DATABASE_URL,
        PGPASSWORD: 'secret',
      });
      expect(child).not.toHaveProperty('ADMIN_API_KEY');
      expect(child).not.toHaveProperty('METRICS_PORT');
    }
    expect(childEnv('results-writer', env)).toHaveProperty(
      'WRITER_MAX_BATCH',
      '100',
    );
    expect(childEnv('migrator', env)).not.toHaveProperty('WRITER_MAX_BATCH');
  });

  it.each(['producer', 'image-worker', 'results-writer', 'migrator'])(
    "gives the %s none of the launcher's, the CLI's or docker-compose's secrets",
    (app) => {
      const child = childEnv(app, env);
      for (const name of [
        'WORKERS',
        'PIPELINE_API_KEY',
        'POSTGRES_PASSWORD',
        'RABBITMQ_PASSWORD',
        ...NOT_FOR_APPS,
      ])
        expect(child).not.toHaveProperty(name);
    },
  );

  it("does not pass on another app's setting given as an extra, and leaves out unset variables", () => {
    expect(
      childEnv(
        'image-worker',
        { PATH: '/bin', LOG_LEVEL: undefined },
        { METRICS_PORT: '9464' },
      ),
    ).toEqual({ PATH: '/bin' });
  });

  it('names the apps it knows when given another', () => {
    expect(() => childEnv('scheduler', env)).toThrow(
      'childEnv: unknown app "scheduler" (one of producer, image-worker, results-writer, migrator)',
    );
  });
});
