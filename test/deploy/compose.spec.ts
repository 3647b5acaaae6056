// docker-compose.yml and its helpers (deploy/compose-secrets.js,
// deploy/pgadmin, deploy/prometheus, .env.example), checked with docker-compose
// itself (`config`) and against the apps' own settings.
import { spawnSync } from 'node:child_process';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BROKER_ROLES, brokerUsers } from '@pipeline/messaging';
import {
  BrokerUsersConfig,
  DatabaseConfig,
  loadConfig,
  longestJobHoldMs,
  ProducerConfig,
  WorkerConfig,
  WriterConfig,
} from '@pipeline/platform';
import {
  ComposeFile,
  composePorts,
  composeVolumes,
  dockerCompose,
  parseCompose,
  parseYaml,
  readRepoFile,
  root,
} from './tools';
import { anyOf, objectContaining, stringMatching } from '../support/matchers';

jest.setTimeout(60_000);

/** Read by the C library under node, not by the apps. */
const PROCESS_SETTINGS = new Set(['MALLOC_ARENA_MAX']);

const example = readRepoFile('.env.example');
/** The secrets the `secrets` step makes, by the variable that may set each. */
const secretVariables = [
  'RABBITMQ_PASSWORD',
  'RABBITMQ_PRODUCER_PASSWORD',
  'RABBITMQ_WORKER_PASSWORD',
  'RABBITMQ_WRITER_PASSWORD',
  'RABBITMQ_ERLANG_COOKIE',
  'POSTGRES_PASSWORD',
  'PGADMIN_PASSWORD',
  'GRAFANA_PASSWORD',
  'ADMIN_API_KEY',
];
const SECRETS_STEP = join(
  __dirname,
  '..',
  '..',
  'deploy',
  'compose-secrets.js',
);
const appServices = [
  'migrate',
  'rabbitmq-users',
  'producer',
  'image-worker',
  'results-writer',
];
/** The broker user each app connects as. */
const brokerRoleOf = {
  producer: 'producer',
  'image-worker': 'worker',
  'results-writer': 'writer',
} as const;
/** The parts of Prometheus' configuration the checks read. */
interface PrometheusConfig {
  scrape_configs: {
    job_name: string;
    metrics_path?: string;
    static_configs?: { targets: string[] }[];
    dns_sd_configs?: { names: string[]; type: string; port: number }[];
  }[];
}
let dir: string;
let envFile: string;
let config: ComposeFile;

/** `docker-compose config` with this env file, parsed; every profile on. */
function composeConfig(file: string): ComposeFile {
  const result = dockerCompose(
    [
      '--profile',
      'tools',
      '--profile',
      'monitoring',
      '--profile',
      'cluster',
      'config',
    ],
    file,
  );
  if (result.status !== 0)
    throw new Error(`docker-compose config failed: ${result.stderr}`);
  return parseCompose(result.stdout);
}

/**
 * Runs the secrets step (as the `secrets` service does) into `folder`, with
 * this environment.
 */
function runSecretsStep(folder: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [SECRETS_STEP, folder], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
}

/**
 * A service's environment as the app reads it: `/secrets/...` files taken from
 * `folder`, made by the secrets step.
 */
function withSecretsFrom(
  folder: string,
  environment: Record<string, string>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment).map(([name, value]) => [
      name,
      name.endsWith('_FILE')
        ? value.replace(/^\/secrets\//, `${folder}/`)
        : value,
    ]),
  );
}

/** Setting names with the `_FILE` suffix read as the setting itself. */
const settingName = (name: string) => name.replace(/_FILE$/, '');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'compose-'));
  envFile = join(dir, '.env');
  writeFileSync(envFile, example);
  config = composeConfig(envFile);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docker-compose.yml', () => {
  test('docker-compose config -q accepts it with the settings of .env.example', () => {
    const result = dockerCompose(['config', '-q'], envFile);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    // the Compose Specification
    expect(readRepoFile('docker-compose.yml')).not.toMatch(/^version:/m);
  });

  test('needs no .env: docker-compose config accepts the file with none', () => {
    const empty = join(dir, '.env-empty');
    writeFileSync(empty, '');
    const result = dockerCompose(['config', '-q'], empty);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  test('the secrets step makes every password, the cookie and the admin key on the first start, and keeps them', () => {
    const folder = mkdtempSync(join(dir, 'secrets-'));
    const first = runSecretsStep(folder);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(
      'docker compose exec producer cat /secrets/admin-api-key',
    );
    const read = () =>
      Object.fromEntries(
        readdirSync(folder).map((file) => [
          file,
          readFileSync(join(folder, file), 'utf8'),
        ]),
      );
    const made = read();
    expect(Object.keys(made).sort()).toEqual(
      [
        'admin-api-key',
        'database-url',
        'grafana-password',
        'pgadmin-password',
        'postgres-password',
        'producer-amqp-url',
        'rabbitmq-erlang-cookie',
        'rabbitmq-management-url',
        'rabbitmq-password',
        'rabbitmq-producer-password',
        'rabbitmq-worker-password',
        'rabbitmq-writer-password',
        'worker-amqp-url',
        'writer-amqp-url',
      ].sort(),
    );
    for (const file of [
      'rabbitmq-password',
      'rabbitmq-producer-password',
      'rabbitmq-worker-password',
      'rabbitmq-writer-password',
      'rabbitmq-erlang-cookie',
      'postgres-password',
      'pgadmin-password',
      'grafana-password',
    ]) {
      expect({ file, value: made[file] }).toEqual({
        file,
        value: stringMatching(/^[0-9a-f]{32}\n$/),
      });
    }
    expect(made['admin-api-key']).toMatch(/^[\w-]{43}\n$/);
    expect(new Set(Object.values(made)).size).toBe(Object.keys(made).length);
    // Readable by the services' users (each image runs as its own uid), changed
    // by no one.
    for (const file of Object.keys(made))
      expect((statSync(join(folder, file)).mode & 0o777).toString(8)).toBe(
        '444',
      );
    // The producer reads its key as it would in the container.
    expect(
      loadConfig(ProducerConfig, {
        ADMIN_API_KEY_FILE: join(folder, 'admin-api-key'),
      }).ADMIN_API_KEY,
    ).toBe(made['admin-api-key'].trim());

    const again = runSecretsStep(folder);
    expect(again.status).toBe(0);
    expect(again.stdout).not.toContain('generated');
    expect(read()).toEqual(made);
  });

  test('the secrets step takes a value set in .env instead, refuses .env.example-style placeholders and weak values, naming them', () => {
    const folder = mkdtempSync(join(dir, 'secrets-'));
    const key = 'q3V8xN1rT6mZ0bL4wY7cK2jH9sF5dApEq3V8xN1rT6';
    const given = runSecretsStep(folder, {
      ADMIN_API_KEY: key,
      POSTGRES_PASSWORD: 'Pg0a1b2c3d4e5f6g7h8',
    });
    expect(given.status).toBe(0);
    expect(readFileSync(join(folder, 'admin-api-key'), 'utf8')).toBe(
      `${key}\n`,
    );
    expect(readFileSync(join(folder, 'database-url'), 'utf8')).toBe(
      'postgres://pipeline:Pg0a1b2c3d4e5f6g7h8@postgres:5432/pipeline\n',
    );

    const refused = mkdtempSync(join(dir, 'secrets-'));
    const placeholder = runSecretsStep(refused, {
      POSTGRES_PASSWORD: 'change-me-postgres',
      ADMIN_API_KEY: 'short',
      RABBITMQ_WORKER_PASSWORD: 'has/slash+and=more',
    });
    expect(placeholder.status).toBe(1);
    expect(placeholder.stderr).toContain(
      'POSTGRES_PASSWORD is still a placeholder from .env.example',
    );
    expect(placeholder.stderr).toContain(
      'ADMIN_API_KEY must have 32 characters or more',
    );
    expect(placeholder.stderr).toContain(
      'RABBITMQ_WORKER_PASSWORD goes into URLs: use letters and digits only',
    );
    expect(readdirSync(refused)).toEqual([]); // nothing half-written
  });

  test('no password is written in the file itself or in .env.example; the services read them from the secrets volume', () => {
    for (const line of readRepoFile('docker-compose.yml').split('\n')) {
      if (/PASS|_KEY|COOKIE/.test(line) && !line.trim().startsWith('#'))
        expect(line).toMatch(
          /_FILE: \/secrets\/[a-z-]+$|: \$\{[A-Z_]+:-\}$|RABBITMQ_DEFAULT_USER/,
        );
    }
    for (const name of secretVariables)
      expect(example).toMatch(new RegExp(`^# ${name}=$`, 'm'));
    expect(example).not.toMatch(/change-me/);
    for (const [name, service] of Object.entries(config.services)) {
      const files = Object.entries(service.environment).filter(([variable]) =>
        variable.endsWith('_FILE'),
      );
      if (files.length === 0) continue;
      expect({
        name,
        mounted: composeVolumes(service).find((v) => v.target === '/secrets'),
      }).toEqual({
        name,
        mounted: objectContaining({
          type: 'volume',
          source: 'secrets',
          read_only: true,
        }),
      });
      for (const [, path] of files)
        expect(path).toMatch(/^\/secrets\/[a-z-]+$/);
    }
  });

  test('.env.example names every variable the file reads, and the apps know every setting it passes', () => {
    const text = readRepoFile('docker-compose.yml');
    const used = new Set(
      [...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]),
    );
    const listed = new Set(
      [...example.matchAll(/^(?:# )?([A-Z0-9_]+)=/gm)].map((m) => m[1]),
    );
    expect([...used].filter((name) => !listed.has(name))).toEqual([]);

    // Every setting some app's config declares.
    const settings = new Set(
      [ProducerConfig, WorkerConfig, WriterConfig, DatabaseConfig].flatMap(
        (appConfig) => Object.keys(new appConfig()),
      ),
    );
    for (const service of appServices.filter(
      (name) => name !== 'rabbitmq-users',
    )) {
      const unknown = Object.keys(config.services[service].environment).filter(
        (name) =>
          !settings.has(settingName(name)) && !PROCESS_SETTINGS.has(name),
      );
      expect({ service, unknown }).toEqual({ service, unknown: [] });
    }
    const usersSetup = Object.keys(new BrokerUsersConfig());
    expect(
      Object.keys(config.services['rabbitmq-users'].environment).filter(
        (name) => !usersSetup.includes(settingName(name)),
      ),
    ).toEqual([]);
  });

  test('each app is given only settings its own config reads: no admin key or database for the workers', () => {
    const appConfigs = {
      migrate: DatabaseConfig,
      producer: ProducerConfig,
      'image-worker': WorkerConfig,
      'results-writer': WriterConfig,
    };
    for (const [service, appConfig] of Object.entries(appConfigs)) {
      const reads = new Set(Object.keys(new appConfig()));
      const others = Object.keys(config.services[service].environment).filter(
        (name) => !reads.has(settingName(name)) && !PROCESS_SETTINGS.has(name),
      );
      expect({ service, others }).toEqual({ service, others: [] });
    }
    const worker = Object.keys(config.services['image-worker'].environment).map(
      settingName,
    );
    for (const name of ['ADMIN_API_KEY', 'DATABASE_URL', 'DATABASE_POOL_SIZE'])
      expect(worker).not.toContain(name);
    expect(
      Object.keys(config.services['results-writer'].environment).map(
        settingName,
      ),
    ).not.toContain('ADMIN_API_KEY');
  });

  test('the services: broker, database, a one-shot migration, the three apps, pgAdmin, Prometheus and Grafana, two more broker nodes and an S3 server under profiles', () => {
    expect(Object.keys(config.services).sort()).toEqual([
      'grafana',
      'image-worker',
      'migrate',
      'pgadmin',
      'postgres',
      'producer',
      'prometheus',
      'rabbitmq',
      'rabbitmq-2',
      'rabbitmq-3',
      'rabbitmq-users',
      'results-writer',
      'rgw',
      'secrets',
    ]);
    expect(config.services.rgw.profiles).toEqual(['s3']);
    expect(config.services['rabbitmq-2'].profiles).toEqual(['cluster']);
    expect(config.services['rabbitmq-3'].profiles).toEqual(['cluster']);
    expect(config.services.pgadmin.profiles).toEqual(['tools']);
    expect(config.services.prometheus.profiles).toEqual(['monitoring']);
    expect(config.services.grafana.profiles).toEqual(['monitoring']);
    for (const name of ['secrets', 'rabbitmq', 'postgres', ...appServices])
      expect(config.services[name].profiles).toBeUndefined();
  });

  test('RabbitMQ and PostgreSQL: official images, named volumes, health checks, passwords from the secrets volume', () => {
    const { rabbitmq, postgres } = config.services;
    expect(rabbitmq.image).toMatch(/^rabbitmq:3\.\d+\.\d+-management$/);
    // the node name, and with it the data, survives re-creation
    expect(rabbitmq.hostname).toBe('rabbitmq');
    expect(composeVolumes(rabbitmq)).toContainEqual(
      expect.objectContaining({
        source: 'rabbitmq-data',
        target: '/var/lib/rabbitmq',
        type: 'volume',
      }),
    );
    expect(rabbitmq.healthcheck?.test).toEqual([
      'CMD',
      'rabbitmq-diagnostics',
      '-q',
      'check_port_connectivity',
    ]);
    // The official image reads the password from the environment only: a
    // wrapper puts it there, then hands over.
    expect(rabbitmq.entrypoint).toEqual([
      'sh',
      '/usr/local/bin/with-secrets.sh',
    ]);
    expect(rabbitmq.command).toEqual(['rabbitmq-server']);
    const wrapper = readRepoFile('deploy/rabbitmq/with-secrets.sh');
    expect(wrapper).toMatch(
      /^RABBITMQ_DEFAULT_PASS="\$\(cat \/secrets\/rabbitmq-password\)"$/m,
    );
    expect(wrapper).toMatch(/^exec docker-entrypoint\.sh "\$@"$/m);
    expect(rabbitmq.environment).toEqual({ RABBITMQ_DEFAULT_USER: 'pipeline' });
    expect(postgres.image).toMatch(/^postgres:\d+/);
    expect(composeVolumes(postgres)).toContainEqual(
      expect.objectContaining({
        source: 'postgres-data',
        target: '/var/lib/postgresql/data',
        type: 'volume',
      }),
    );
    expect(postgres.healthcheck?.test.slice(0, 2)).toEqual([
      'CMD',
      'pg_isready',
    ]);
    expect(postgres.environment.POSTGRES_PASSWORD_FILE).toBe(
      '/secrets/postgres-password',
    );
    expect(postgres.environment.POSTGRES_PASSWORD).toBeUndefined();
    expect(Object.keys(config.volumes ?? {}).sort()).toEqual([
      'grafana-data',
      'pgadmin-data',
      'postgres-data',
      'prometheus-data',
      'rabbitmq-2-data',
      'rabbitmq-3-data',
      'rabbitmq-data',
      'rgw-data',
      'secrets',
      'storage',
    ]);
  });

  test('start order: the secrets first, migrations after a healthy database, broker users after a healthy broker, the apps after both', () => {
    const healthy = { condition: 'service_healthy' };
    const completed = { condition: 'service_completed_successfully' };
    const services = config.services;
    expect(services.secrets.depends_on).toBeUndefined();
    expect(services.secrets.restart).toBe('no');
    expect(services.rabbitmq.depends_on).toEqual({ secrets: completed });
    expect(services.postgres.depends_on).toEqual({ secrets: completed });
    expect(services.migrate.depends_on).toEqual({ postgres: healthy });
    expect(services.migrate.restart).toBe('no');
    expect(services['rabbitmq-users'].depends_on).toEqual({
      rabbitmq: healthy,
    });
    expect(services['rabbitmq-users'].restart).toBe('no');
    for (const name of ['producer', 'results-writer']) {
      expect(services[name].depends_on).toEqual({
        rabbitmq: healthy,
        'rabbitmq-users': completed,
        postgres: healthy,
        migrate: completed,
      });
    }
    expect(services['image-worker'].depends_on).toEqual({
      rabbitmq: healthy,
      'rabbitmq-users': completed,
    });
    for (const name of [
      'rabbitmq',
      'postgres',
      'producer',
      'image-worker',
      'results-writer',
      'pgadmin',
      'prometheus',
    ])
      expect(services[name].restart).toBe('unless-stopped');
  });

  test('the apps: one image, the app chosen by command, drained on stop, hardened', () => {
    for (const name of appServices) {
      const service = config.services[name];
      expect(service.image).toBe('image-pipeline:local');
      expect(service.build).toEqual({
        context: anyOf(String),
        dockerfile: 'deploy/Dockerfile',
      });
      const app =
        name === 'migrate' || name === 'rabbitmq-users' ? 'migrator' : name;
      expect(service.command).toEqual([
        `dist/${app}/${name === 'rabbitmq-users' ? 'broker-users' : 'main'}.js`,
      ]);
      expect(service.read_only).toBe(true);
      expect(service.cap_drop).toEqual(['ALL']);
    }
    for (const name of ['producer', 'image-worker', 'results-writer']) {
      const service = config.services[name];
      expect(service.tmpfs).toEqual(['/tmp']);
      // longer than SHUTDOWN_GRACE_MS
      expect(service.stop_grace_period).toBe('40s');
    }
    expect(config.services.producer.environment.PORT).toBe('3000');
    // the image's HEALTHCHECK reads PORT
    expect(config.services['image-worker'].environment.PORT).toBe('3001');
    expect(config.services['results-writer'].environment.PORT).toBe('3002');
    expect(composePorts(config.services.producer)).toEqual([
      { target: 3000, published: 3000, host_ip: '127.0.0.1' },
    ]);
    // The workers are given no database: they do not use one.
    expect(
      config.services['image-worker'].environment.DATABASE_URL_FILE,
    ).toBeUndefined();
    expect(config.services.producer.environment.DATABASE_URL_FILE).toBe(
      '/secrets/database-url',
    );
    expect(config.services.producer.environment.AMQP_URL_FILE).toBe(
      '/secrets/producer-amqp-url',
    );
    // The secrets step itself runs from the same image.
    expect(config.services.secrets.image).toBe('image-pipeline:local');
    expect(config.services.secrets.command).toEqual([
      'deploy/compose-secrets.js',
      '/secrets',
    ]);
    expect(readRepoFile('deploy/Dockerfile')).toMatch(
      /^COPY deploy\/wait-for\.js deploy\/compose-secrets\.js \.\/deploy\/$/m,
    );
  });

  test('each app connects as its own broker user, made by rabbitmq-users with the permissions of brokerPermissions(); only the producer declares the topology', () => {
    // With the secrets the secrets step makes, read the way each app reads
    // them.
    const folder = mkdtempSync(join(dir, 'secrets-'));
    expect(runSecretsStep(folder).status).toBe(0);
    const secret = (file: string) =>
      readFileSync(join(folder, file), 'utf8').trim();
    const { services } = config;
    const setup = services['rabbitmq-users'];
    const { rabbitmq } = services;
    const setupConfig = loadConfig(
      BrokerUsersConfig,
      withSecretsFrom(folder, setup.environment),
    );
    // The administrator is the broker's default user, and only the setup knows
    // its password.
    expect(setupConfig.RABBITMQ_MANAGEMENT_URL).toBe(
      `http://${rabbitmq.environment.RABBITMQ_DEFAULT_USER}:${secret('rabbitmq-password')}@rabbitmq:15672`,
    );
    const passwords = {
      producer: setupConfig.RABBITMQ_PRODUCER_PASSWORD,
      worker: setupConfig.RABBITMQ_WORKER_PASSWORD,
      writer: setupConfig.RABBITMQ_WRITER_PASSWORD,
    };
    const users = brokerUsers(setupConfig.AMQP_PREFIX, passwords);
    expect(users.map((user) => user.role)).toEqual([...BROKER_ROLES]);
    for (const [service, role] of Object.entries(brokerRoleOf)) {
      const environment = services[service].environment;
      const url = new URL(
        loadConfig(
          WorkerConfig,
          withSecretsFrom(folder, { AMQP_URL_FILE: environment.AMQP_URL_FILE }),
        ).AMQP_URL,
      );
      const user = users.find((candidate) => candidate.role === role)!;
      expect({
        service,
        user: url.username,
        password: url.password,
        vhost: url.pathname || '/',
      }).toEqual({
        service,
        user: user.name,
        password: user.password,
        vhost: setupConfig.RABBITMQ_VHOST,
      });
      // The permissions are made for the prefix the app uses.
      expect({ service, prefix: environment.AMQP_PREFIX }).toEqual({
        service,
        prefix: setup.environment.AMQP_PREFIX,
      });
      expect({ service, topology: environment.AMQP_TOPOLOGY }).toEqual({
        service,
        topology: role === 'producer' ? 'declare' : 'check',
      });
      expect(() =>
        loadConfig(WorkerConfig, { AMQP_TOPOLOGY: environment.AMQP_TOPOLOGY }),
      ).not.toThrow();
    }
    // No app is pointed at the administrator's password.
    for (const name of [
      'producer',
      'image-worker',
      'results-writer',
      'migrate',
    ]) {
      const files = Object.values(services[name].environment).filter((value) =>
        value.startsWith('/secrets/'),
      );
      expect({
        name,
        admin: files.some((file) =>
          readFileSync(file.replace('/secrets', folder), 'utf8').includes(
            secret('rabbitmq-password'),
          ),
        ),
      }).toEqual({ name, admin: false });
    }
  });

  test('the producer takes its admin key from the secrets volume, and keeps /metrics on an unpublished port', () => {
    const producer = config.services.producer;
    expect(producer.environment.ADMIN_API_KEY_FILE).toBe(
      '/secrets/admin-api-key',
    );
    expect(producer.environment.METRICS_PORT).toBe('9464');
    expect(composePorts(producer).map((port) => port.target)).toEqual([3000]);
    for (const name of ['image-worker', 'results-writer'])
      expect(
        Object.keys(config.services[name].environment).map(settingName),
      ).not.toContain('ADMIN_API_KEY');
  });

  test('storage is one named volume shared by the producer, the workers and the writer (its retention sweep); the images folder a read-only bind mount', () => {
    for (const name of ['producer', 'image-worker']) {
      const service = config.services[name];
      const volumes = composeVolumes(service);
      expect(volumes).toContainEqual(
        expect.objectContaining({
          type: 'volume',
          source: 'storage',
          target: '/data/storage',
          read_only: false,
        }),
      );
      expect(volumes).toContainEqual(
        expect.objectContaining({
          type: 'bind',
          target: '/images',
          read_only: true,
        }),
      );
      expect(volumes.find((v) => v.target === '/images')!.source).toMatch(
        /\/data\/images$/,
      );
      expect(service.environment).toMatchObject({
        STORAGE_DIR: '/data/storage',
        IMAGES_DIR: '/images',
      });
    }
    const writer = config.services['results-writer'];
    expect(
      composeVolumes(writer).filter((v) => v.target !== '/secrets'),
    ).toEqual([
      expect.objectContaining({
        type: 'volume',
        source: 'storage',
        target: '/data/storage',
        read_only: false,
      }),
    ]);
    expect(writer.environment).toMatchObject({ STORAGE_DIR: '/data/storage' });
    expect(Object.keys(writer.environment)).toEqual(
      expect.arrayContaining([
        'RETENTION_UPLOADS_S',
        'RETENTION_OUTPUTS_S',
        'RETENTION_JOBS_S',
        'RETENTION_SWEEP_INTERVAL_S',
      ]),
    );
  });

  test('profile s3: STORAGE_URL and the S3 settings from .env reach the producer, the workers and the writer; the gateway makes the same user', () => {
    const file = join(dir, '.env.s3');
    const s3 = {
      STORAGE_URL: 's3://pipeline/blobs',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ENDPOINT_URL_S3: 'http://rgw:7480',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'PIPELINEKEY0123456789',
      AWS_SECRET_ACCESS_KEY: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0',
    };
    writeFileSync(
      file,
      `${example}\n${Object.entries(s3)
        .map(([name, value]) => `${name}=${value}`)
        .join('\n')}\nRESULT_DELIVERY=redirect\n`,
    );
    const rendered = composeConfig(file);
    for (const service of ['producer', 'image-worker', 'results-writer']) {
      expect({ service, env: rendered.services[service].environment }).toEqual({
        service,
        env: objectContaining(s3),
      });
      // The settings as the app takes them: a bucket, no shared folder needed.
      const cls: new () => { STORAGE_URL: string } = {
        producer: ProducerConfig,
        'image-worker': WorkerConfig,
        'results-writer': WriterConfig,
      }[service]!;
      const env = Object.fromEntries(
        Object.entries(rendered.services[service].environment).filter(
          ([name, value]) =>
            value !== '' && value !== null && !name.endsWith('_FILE'),
        ),
      ) as Record<string, string>;
      expect(
        loadConfig(cls, {
          ...env,
          ADMIN_API_KEY: 'q3V8xN1rT6mZ0bL4wY7cK2jH9sF5dApE',
          AMQP_URL: 'amqp://u:realpassword1@rabbitmq:5672',
          DATABASE_URL: 'postgres://p:realpassword1@postgres/p',
        }).STORAGE_URL,
      ).toBe('s3://pipeline/blobs');
    }
    expect(rendered.services.producer.environment.RESULT_DELIVERY).toBe(
      'redirect',
    );
    expect(rendered.services.rgw.build?.context).toMatch(/deploy\/rgw$/);
    expect(rendered.services.rgw.environment).toMatchObject({
      S3_ACCESS_KEY_ID: s3.AWS_ACCESS_KEY_ID,
      S3_SECRET_ACCESS_KEY: s3.AWS_SECRET_ACCESS_KEY,
      S3_BUCKET: 'pipeline',
    });
    expect(rendered.services.rgw.volumes).toEqual([
      'rgw-data:/var/lib/ceph-s3:rw',
    ]);
  });

  test('pgAdmin starts with the database registered, as the compose file names it', () => {
    const { pgadmin, postgres } = config.services;
    expect(pgadmin.image).toMatch(/^dpage\/pgadmin4:/);
    expect(pgadmin.environment).toEqual({
      PGADMIN_DEFAULT_EMAIL: 'admin@example.com',
      PGADMIN_DEFAULT_PASSWORD_FILE: '/secrets/pgadmin-password',
      PGADMIN_DISABLE_POSTFIX: 'true',
    });
    const mount = composeVolumes(pgadmin).find(
      (v) => v.target === '/pgadmin4/servers.json',
    )!;
    expect(mount).toMatchObject({ type: 'bind', read_only: true });
    expect(mount.source).toMatch(/deploy\/pgadmin\/servers\.json$/);
    const server = (
      JSON.parse(readRepoFile('deploy/pgadmin/servers.json')) as {
        Servers: Record<string, object>;
      }
    ).Servers['1'];
    expect(server).toMatchObject({
      Host: 'postgres',
      Port: 5432,
      MaintenanceDB: postgres.environment.POSTGRES_DB,
      Username: postgres.environment.POSTGRES_USER,
    });
    expect(composePorts(pgadmin)).toEqual([
      { target: 80, published: 5050, host_ip: '127.0.0.1' },
    ]);
  });

  test('profile cluster: rabbitmq-2 and rabbitmq-3 join rabbit@rabbitmq, with the same image, cookie and credentials; AMQP_URL can name all three', () => {
    const { rabbitmq } = config.services;
    const clusterConf = readRepoFile('deploy/rabbitmq/cluster.conf');
    expect(clusterConf).toContain(
      'cluster_formation.peer_discovery_backend = classic_config',
    );
    for (const [index, name] of [
      'rabbitmq',
      'rabbitmq-2',
      'rabbitmq-3',
    ].entries()) {
      expect(clusterConf).toContain(
        `cluster_formation.classic_config.nodes.${index + 1} = rabbit@${name}`,
      );
      const node = config.services[name];
      expect(node.hostname).toBe(name);
      expect(node.image).toBe(rabbitmq.image);
      expect(node.environment).toEqual(rabbitmq.environment);
      // The cookie and the administrator's password: from the one secrets
      // volume, by the same wrapper.
      expect(node.entrypoint).toEqual(rabbitmq.entrypoint);
      expect(composeVolumes(node)).toContainEqual(
        expect.objectContaining({
          type: 'volume',
          source: 'secrets',
          target: '/secrets',
          read_only: true,
        }),
      );
      expect(node.healthcheck?.test).toEqual(rabbitmq.healthcheck?.test);
      expect(node.restart).toBe('unless-stopped');
    }
    for (const name of ['rabbitmq-2', 'rabbitmq-3']) {
      const volumes = composeVolumes(config.services[name]);
      expect(volumes).toContainEqual(
        expect.objectContaining({
          type: 'volume',
          source: `${name}-data`,
          target: '/var/lib/rabbitmq',
        }),
      );
      const conf = volumes.find(
        (v) => v.target === '/etc/rabbitmq/conf.d/20-cluster.conf',
      )!;
      expect(conf).toMatchObject({ type: 'bind', read_only: true });
      expect(conf.source).toMatch(/deploy\/rabbitmq\/cluster\.conf$/);
      expect(config.services[name].depends_on).toEqual({
        rabbitmq: { condition: 'service_healthy' },
      });
      expect(config.services[name].ports).toBeUndefined();
    }

    const file = join(dir, '.env-cluster');
    const hosts = 'rabbitmq:5672,rabbitmq-2:5672,rabbitmq-3:5672';
    writeFileSync(
      file,
      example.replace(/^RABBITMQ_HOSTS=.*$/m, `RABBITMQ_HOSTS=${hosts}`),
    );
    const clustered = composeConfig(file);
    expect(clustered.services.secrets.environment.RABBITMQ_HOSTS).toBe(hosts);
    const folder = mkdtempSync(join(dir, 'secrets-'));
    expect(runSecretsStep(folder, { RABBITMQ_HOSTS: hosts }).status).toBe(0);
    for (const [name, role] of Object.entries(brokerRoleOf)) {
      const url = readFileSync(
        clustered.services[name].environment.AMQP_URL_FILE.replace(
          '/secrets',
          folder,
        ),
        'utf8',
      ).trim();
      const password = readFileSync(
        join(folder, `rabbitmq-${role}-password`),
        'utf8',
      ).trim();
      expect(url).toBe(`amqp://${role}:${password}@${hosts}`);
    }
    expect(example).toMatch(
      /^#\s+RABBITMQ_HOSTS=rabbitmq:5672,rabbitmq-2:5672,rabbitmq-3:5672$/m,
    );
  });

  test("every broker node sets consumer_timeout explicitly, to the workers' AMQP_CONSUMER_TIMEOUT_MS, far above a job's deadline", () => {
    const conf = readRepoFile('deploy/rabbitmq/pipeline.conf');
    const timeoutMs = Number(/^consumer_timeout = (\d+)$/m.exec(conf)?.[1]);
    expect(timeoutMs).toBe(1_800_000);
    const worker = loadConfig(WorkerConfig, {});
    expect(worker.AMQP_CONSUMER_TIMEOUT_MS).toBe(timeoutMs);
    expect(longestJobHoldMs(worker) * 2).toBeLessThanOrEqual(timeoutMs);
    for (const name of ['rabbitmq', 'rabbitmq-2', 'rabbitmq-3']) {
      const mount = composeVolumes(config.services[name]).find(
        (v) => v.target === '/etc/rabbitmq/conf.d/10-pipeline.conf',
      );
      expect(mount).toMatchObject({ type: 'bind', read_only: true });
      expect(mount!.source).toMatch(/deploy\/rabbitmq\/pipeline\.conf$/);
    }
    expect(
      config.services['image-worker'].environment.AMQP_CONSUMER_TIMEOUT_MS,
    ).toBe('');
  });

  test('the image-workers run with two malloc arenas, which keeps their RSS from creeping up under sharp', () => {
    expect(config.services['image-worker'].environment.MALLOC_ARENA_MAX).toBe(
      '2',
    );
    expect(readRepoFile('deploy/Dockerfile')).toMatch(
      /^\s+MALLOC_ARENA_MAX=2 \\$/m,
    );
  });

  test('Prometheus scrapes /metrics of every app, every worker replica through Docker DNS', () => {
    const prometheus = parseYaml(
      readRepoFile('deploy/prometheus/prometheus.yml'),
    ) as PrometheusConfig;
    const jobs = Object.fromEntries(
      prometheus.scrape_configs.map((job) => [job.job_name, job]),
    );
    expect(jobs.producer.static_configs![0].targets).toEqual(['producer:9464']);
    expect(jobs['results-writer'].static_configs![0].targets).toEqual([
      'results-writer:3002',
    ]);
    expect(jobs['image-worker'].dns_sd_configs).toEqual([
      expect.objectContaining({
        names: ['image-worker'],
        type: 'A',
        port: 3001,
      }),
    ]);
    expect(jobs.rabbitmq.static_configs![0].targets).toEqual([
      'rabbitmq:15692',
    ]);
    for (const job of Object.values(jobs))
      expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    const service = config.services.prometheus;
    expect(composeVolumes(service)).toContainEqual(
      expect.objectContaining({
        type: 'bind',
        target: '/etc/prometheus/prometheus.yml',
        read_only: true,
      }),
    );
  });

  test("profile monitoring: Prometheus evaluates the chart's alert rules; Grafana shows the dashboard on it, its admin password from the secrets volume", () => {
    const prometheusConfig = parseYaml(
      readRepoFile('deploy/prometheus/prometheus.yml'),
    ) as { rule_files: string[] };
    const rules = composeVolumes(config.services.prometheus).find((v) =>
      v.source?.endsWith('helm/image-pipeline/files/alert-rules.yaml'),
    )!;
    expect(rules).toMatchObject({ type: 'bind', read_only: true });
    expect(prometheusConfig.rule_files).toEqual([
      `${rules.target.replace(/[^/]+$/, '')}*.yml`,
    ]);
    expect(rules.target).toMatch(/\.yml$/);

    const { grafana } = config.services;
    expect(grafana.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(grafana.profiles).toEqual(['monitoring']);
    expect(grafana.environment).toMatchObject({
      GF_SECURITY_ADMIN_USER: 'admin',
      GF_SECURITY_ADMIN_PASSWORD__FILE: '/secrets/grafana-password',
      GF_USERS_ALLOW_SIGN_UP: 'false',
    });
    const mounts = composeVolumes(grafana);
    const mountOf = (target: string) => mounts.find((v) => v.target === target);
    expect(mountOf('/var/lib/grafana')).toMatchObject({
      type: 'volume',
      source: 'grafana-data',
    });
    expect(mountOf('/etc/grafana/provisioning')).toMatchObject({
      type: 'bind',
      read_only: true,
      source: stringMatching(/deploy\/grafana\/provisioning$/),
    });
    expect(mountOf('/etc/grafana/dashboards')).toMatchObject({
      type: 'bind',
      read_only: true,
      source: stringMatching(/deploy\/grafana\/dashboards$/),
    });
    expect(composePorts(grafana)).toEqual([
      { target: 3000, published: 3030, host_ip: '127.0.0.1' },
    ]);
    expect(grafana.depends_on).toMatchObject({
      secrets: { condition: 'service_completed_successfully' },
      prometheus: { condition: 'service_started' },
    });

    // The data source is the compose file's Prometheus, the dashboards are
    // read from where the folder is mounted, and the home page is one of them.
    const datasources = parseYaml(
      readRepoFile('deploy/grafana/provisioning/datasources/prometheus.yml'),
    ) as { datasources: { type: string; url: string; isDefault: boolean }[] };
    expect(datasources.datasources).toEqual([
      expect.objectContaining({
        type: 'prometheus',
        url: `http://prometheus:${composePorts(config.services.prometheus)[0].target}`,
        isDefault: true,
      }),
    ]);
    const providers = parseYaml(
      readRepoFile('deploy/grafana/provisioning/dashboards/image-pipeline.yml'),
    ) as { providers: { type: string; options: { path: string } }[] };
    expect(providers.providers).toEqual([
      expect.objectContaining({
        type: 'file',
        options: objectContaining({ path: '/etc/grafana/dashboards' }),
      }),
    ]);
    const home = grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    expect(home).toMatch(/^\/etc\/grafana\/dashboards\/[\w-]+\.json$/);
    expect(
      readdirSync(join(root, 'deploy', 'grafana', 'dashboards')),
    ).toContain(home.split('/').pop());
  });
});
